// The web UI end to end, in sandbox mode: sign-in, dashboard, the onboarding wizard with its
// plan review, watching a job live, a reload mid-job, a failing scenario with its remediation,
// a bulk run, the audit log, labels and a narrow window, CSRF refusal.
// Screenshots go to target/e2e-screenshots/.
const { test, expect } = require("@playwright/test");
const path = require("path");

const SHOTS = path.join(__dirname, "..", "..", "target", "e2e-screenshots");
const base = () => process.env.CORTEX_URL;
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

const TENANT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const SUBSCRIPTION = "8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f";
const STEPS = ["validate", "prerequisites", "resolve", "azure_identity", "preflight", "register", "verify"];

test.describe.configure({ mode: "serial" });

async function signIn(page) {
  await page.goto(base() + "/login");
  await page.getByLabel("Name").fill("admin");
  await page.getByLabel("Password").fill(process.env.CORTEX_ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
}

test("an unauthenticated visitor is sent to sign in", async ({ page }) => {
  await page.goto(base() + "/");
  await expect(page).toHaveURL(/\/login$/);
  await page.goto(base() + "/onboard");
  await expect(page).toHaveURL(/\/login\?next=\/onboard$/);
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await shot(page, "login");
});

test("a wrong password is refused and the form stays usable", async ({ page }) => {
  await page.goto(base() + "/login");
  await page.getByLabel("Name").fill("admin");
  await page.getByLabel("Password").fill("not-the-password");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("alert")).toContainText("wrong");
  await expect(page.getByLabel("Name")).toHaveValue("admin");
});

test("sign in, onboard a subscription, watch it turn green, reload mid-job", async ({ page }) => {
  await signIn(page);
  await shot(page, "dashboard-empty");

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "New onboarding" }).click();
  await expect(page.getByRole("heading", { name: "New onboarding" })).toBeVisible();
  await expect(page.getByLabel("One subscription")).toBeChecked();
  await page.getByLabel("Tenant id").fill(TENANT);
  await page.getByLabel("Subscription id").fill(SUBSCRIPTION);
  await page.getByLabel("Account name in Prisma Cloud").fill("e2e <prod> & co");
  await page.getByLabel("Agentless Scanning").check();
  await page.getByLabel("Ingest flow logs").check();
  // Review is on by default: the job stops after the plan.
  await expect(page.getByLabel("Stop after the Terraform plan so I can review it")).toBeChecked();
  await shot(page, "onboard");
  await page.getByRole("button", { name: "Start onboarding" }).click();

  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]{36}$/);
  await expect(page.locator("h1 .name")).toHaveText("e2e <prod> & co");
  // The review: the plan's counts and resources, nothing applied, an approve button.
  await expect(page.locator("#job-state")).toContainText("awaiting approval");
  await expect(page.locator("#review")).toBeVisible();
  await expect(page.locator("#plan-summary")).toContainText(/[1-9]\d* to add, 0 to change, 0 to destroy/);
  expect(await page.locator("#resources tr").count()).toBeGreaterThan(0);
  await shot(page, "job-review");
  // Mid-job: reload; the history must all be there.
  await page.reload();
  for (const s of ["validate", "prerequisites", "resolve"]) {
    await expect(page.locator(`li[data-step="${s}"] .state`)).toHaveText("succeeded");
  }
  await expect(page.locator('li[data-step="validate"] .elapsed')).toHaveText(/\d+\.\d s/);
  await expect(page.locator("#plan-summary")).toContainText("to add");
  expect(await page.locator("#resources tr").count()).toBeGreaterThan(0);
  await page.getByRole("button", { name: "Approve and apply" }).click();
  await expect(page.locator("#review")).toBeHidden();

  await expect(page.locator("#job")).toHaveAttribute("data-finished", "true", { timeout: 45_000 });
  await expect(page.locator("#job-state")).toContainText("succeeded");
  for (const s of STEPS) {
    await expect(page.locator(`li[data-step="${s}"] .state`)).toHaveText(/succeeded|skipped/);
  }
  const caps = page.locator("#capabilities li");
  expect(await caps.count()).toBeGreaterThan(0);
  for (const li of await caps.all()) {
    await expect(li).toHaveAttribute("data-status", "ok");
    await expect(li.locator(".badge")).toContainText("ok");
  }
  expect(await page.locator("#resources tr").count()).toBeGreaterThan(0);
  expect(await page.locator("#calls li").count()).toBeGreaterThan(0);
  await expect(page.locator("#outcome")).toContainText("Onboarded");
  await shot(page, "job");

  // After the job: a fresh load replays the whole history.
  await page.reload();
  await expect(page.locator("#job")).toHaveAttribute("data-finished", "true");
  await expect(page.locator('li[data-step="verify"] .state')).toHaveText("succeeded");
  expect(await page.locator("#capabilities li").count()).toBe(await caps.count());

  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, "job-narrow");
  await page.setViewportSize({ width: 1280, height: 800 });

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Dashboard" }).click();
  await expect(page.getByRole("cell", { name: "e2e <prod> & co" }).first()).toBeVisible();
  await shot(page, "dashboard");
});

test("a state-changing POST without the CSRF token is refused", async ({ page }) => {
  await signIn(page);
  const status = await page.evaluate(async ({ tenant }) => {
    const body = new URLSearchParams({
      tenant_id: tenant,
      subscription_id: "11111111-2222-4333-8444-555555555555",
      name: "csrf-probe",
    });
    const r = await fetch("/onboard", { method: "POST", body, redirect: "manual" });
    return r.status;
  }, { tenant: TENANT });
  expect(status).toBe(403);
  // The same form with the token is accepted (the redirect to the job page).
  const ok = await page.evaluate(async ({ tenant }) => {
    const csrf = document.querySelector('input[name="csrf_token"]').value;
    const body = new URLSearchParams({
      csrf_token: csrf,
      identity: "existing",
      client_id: "11111111-2222-4333-8444-aaaaaaaaaaaa",
      service_principal_id: "11111111-2222-4333-8444-bbbbbbbbbbbb",
      client_secret: "csrf-probe-secret-0123456789",
      tenant_id: tenant,
      subscription_id: "11111111-2222-4333-8444-555555555556",
      name: "csrf-with-token",
      groups: "Default Account Group",
    });
    const r = await fetch("/onboard", { method: "POST", body, redirect: "manual" });
    return r.type === "opaqueredirect" ? 303 : r.status;
  }, { tenant: TENANT });
  expect(ok).toBe(303);
});

test("a failing scenario shows the capability's remediation and offers a resume", async ({ page }) => {
  await signIn(page);
  await page.goto(base() + "/onboard");
  await page.getByLabel("Tenant id").fill(TENANT);
  // The emulator's marker 0000f10e: the flow-logs role is missing.
  await page.getByLabel("Subscription id").fill("0000f10e-1111-4222-8333-444444444444");
  await page.getByLabel("Account name in Prisma Cloud").fill("e2e flow logs broken");
  await page.getByLabel("Ingest flow logs").check();
  await page.getByLabel("Stop after the Terraform plan so I can review it").uncheck();
  await page.getByRole("button", { name: "Start onboarding" }).click();
  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]{36}$/);
  await expect(page.locator("#job")).toHaveAttribute("data-finished", "true", { timeout: 45_000 });
  await expect(page.locator("#job-state")).toContainText("failed");
  const broken = page.locator('#capabilities li:not([data-status="ok"])');
  await expect(broken.first()).toBeVisible();
  await expect(broken.first().locator(".fix")).toContainText("Fix:");
  await expect(broken.first().locator(".badge")).not.toContainText("ok");
  await expect(page.locator("#outcome")).toContainText("Failed");
  await expect(page.getByRole("button", { name: "Resume from the last completed step" })).toBeVisible();
  await shot(page, "job-failed");
});

test("bulk: 20 rows with one invalid are checked, the 19 valid ones run live, the results export", async ({ page }) => {
  await signIn(page);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Bulk" }).click();
  await expect(page.getByRole("heading", { name: "Bulk onboarding" })).toBeVisible();
  const rows = ["subscription_id,name,groups"];
  for (let i = 0; i < 20; i++) {
    const id = i === 6 ? "not-a-subscription" : `b0000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
    rows.push(`${id},e2e-bulk-${i},Default Account Group`);
  }
  await page.getByLabel(/CSV with a header row/).fill(rows.join("\n") + "\n");
  await page.getByLabel("Tenant id (for rows without a tenant_id)").fill(TENANT);
  await page.getByLabel("Use an existing app registration (no Terraform)").check();
  await page.getByLabel("Application (client) id").fill("b1111111-2222-4333-8444-555555555555");
  await page.getByLabel("Service principal object id").fill("b2222222-2222-4333-8444-555555555555");
  await page.getByLabel("Client secret").fill("e2e-bulk-secret-0123456789");
  await page.getByRole("button", { name: "Check the rows" }).click();

  await expect(page.locator("#check h2")).toHaveText("Checked: 19 valid, 1 with problems");
  const bad = page.locator('#check tr[data-row="8"]');
  await expect(bad).toContainText("invalid");
  await expect(bad).toContainText("row 8 subscription_id");
  await expect(page.locator("#check .badge.ok")).toHaveCount(19);
  await shot(page, "bulk-checked");
  // The secret is not sent back to the browser.
  expect(await page.content()).not.toContain("e2e-bulk-secret-0123456789");
  await page.getByLabel("Client secret").fill("e2e-bulk-secret-0123456789");
  await page.getByRole("button", { name: "Onboard 19 subscriptions (skip 1 invalid row)" }).click();

  await expect(page).toHaveURL(/\/batches\/[0-9a-f-]{36}$/);
  await expect(page.locator("#batch tbody tr[data-job-id]")).toHaveCount(19);
  await expect(page.locator("#batch")).toHaveAttribute("data-finished", "true", { timeout: 90_000 });
  await expect(page.locator("#n-onboarded")).toHaveText("19");
  await expect(page.locator("#n-failed")).toHaveText("0");
  await expect(page.locator("#n-pending")).toHaveText("0");
  await expect(page.locator('#batch tbody tr[data-state="succeeded"]')).toHaveCount(19);
  await shot(page, "batch");

  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download the results (CSV)" }).click(),
  ]);
  const text = require("fs").readFileSync(await download.path(), "utf8");
  const lines = text.trim().split("\n");
  expect(lines[0]).toBe("row,subscription_id,name,state,outcome,error_code,error_message,job_id");
  expect(lines.length).toBe(21); // the skipped row is kept
  expect(lines.filter((l) => l.includes(",succeeded,")).length).toBe(19);
});

test("the wizard shows only the chosen scope's fields; every field is labelled; narrow windows work", async ({ page }) => {
  await signIn(page);
  await page.goto(base() + "/onboard");
  await page.getByLabel("A tenant: its management groups and subscriptions").check();
  await expect(page.getByLabel("Subscription id")).toBeHidden();
  await expect(page.getByLabel("Except these management groups")).toBeVisible();
  await shot(page, "onboard-tenant");
  await page.getByLabel("Microsoft Entra ID only (users, groups, applications)").check();
  await expect(page.getByLabel("Except these management groups")).toBeHidden();
  // Keyboard: the scope radios and the tenant field are reachable with Tab.
  await page.getByLabel("One subscription").focus();
  await page.keyboard.press("Space");
  await expect(page.getByLabel("Subscription id")).toBeVisible();
  for (const path of ["/onboard", "/bulk", "/audit", "/"]) {
    await page.goto(base() + path);
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll("input, textarea, select")]
        .filter((e) => e.type !== "hidden" && e.labels.length === 0 && !e.getAttribute("aria-label"))
        .map((e) => e.name || e.id));
    expect(unlabelled, path).toEqual([]);
  }
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [path, name] of [["/onboard", "onboard-narrow"], ["/bulk", "bulk-narrow"], ["/", "dashboard-narrow"]]) {
    await page.goto(base() + path);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, path).toBeLessThanOrEqual(0);
    await shot(page, name);
  }
});

test("the audit log shows who did what", async ({ page }) => {
  await signIn(page);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit log" }).click();
  await expect(page.getByRole("heading", { name: "Audit log" })).toBeVisible();
  await expect(page.locator("#audit tbody tr").first()).toContainText("web:admin");
  await page.getByLabel("Show entries whose actor, action or target contains").fill("approve");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page.locator("#audit tbody tr").first()).toContainText("approve");
  await shot(page, "audit");
});

test("connections: add one (stored encrypted, shown masked), test it and the default, delete it", async ({ page }) => {
  await signIn(page);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Connections" }).click();
  await expect(page.getByRole("heading", { name: "Platform connections" })).toBeVisible();
  // The sandbox's own connection answers.
  await page.getByRole("button", { name: "Test connection default" }).click();
  await expect(page.locator("#test-result")).toContainText("Connection OK");

  const KEY_ID = "e2e-lab-key-id-0123456789";
  const SECRET = "e2e-lab-secret-canary-9876543210";
  await page.getByLabel("Name", { exact: true }).fill("lab");
  // A loopback port nothing listens on: the test must fail quickly and say why.
  await page.getByLabel("Stack or API URL").fill("http://127.0.0.1:9");
  await page.getByLabel("Access key id").fill(KEY_ID);
  await page.getByLabel("Secret key").fill(SECRET);
  await page.getByRole("button", { name: "Save connection" }).click();
  const row = page.locator("tr", { has: page.locator("th", { hasText: /^lab$/ }) });
  await expect(row).toContainText("e2e-…");
  await expect(row).toContainText("stored encrypted");
  const html = await page.content();
  expect(html).not.toContain(SECRET);
  expect(html).not.toContain(KEY_ID);
  await page.getByRole("button", { name: "Test connection lab" }).click();
  await expect(page.locator("#test-result")).toBeVisible({ timeout: 45_000 });
  await expect(page.locator("#test-result")).not.toContainText("Connection OK");
  await shot(page, "connections");
  // The wizard offers it.
  await page.goto(base() + "/onboard");
  await expect(page.getByLabel("Prisma Cloud tenant to register the account in").locator("option", { hasText: "lab" })).toHaveCount(1);
  await page.goto(base() + "/connections");
  await page.getByRole("button", { name: "Delete connection lab" }).click();
  await expect(page.locator("th", { hasText: /^lab$/ })).toHaveCount(0);
});
