// Every page state, at 1280 px and at 390 px: 0 axe-core violations, no horizontal overflow,
// and a screenshot in target/e2e-screenshots/<state>-<width>.png. Then the roles (a viewer
// sees no action buttons; an operator tests connections but does not save or delete them),
// refused forms that keep what was typed (stale CSRF token, a role that may not), and a
// session that ends while a form is open: sign-in, then back to the form with the values.
const { test, expect } = require("@playwright/test");
const { checkPage } = require("../support");

const base = () => process.env.CORTEX_URL;

const TENANT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const sub = (n) => `a11e0000-0000-4000-8000-${String(n).padStart(12, "0")}`;

// axe-core takes seconds per page and width: the tests get more time than the default minute.
test.describe.configure({ mode: "serial", timeout: 240_000 });

const check = checkPage;

async function signIn(page, name, password) {
  await page.goto(base() + "/login");
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
}
const asAdmin = (page) => signIn(page, "admin", process.env.CORTEX_ADMIN_PASSWORD);
const asViewer = (page) => signIn(page, "e2e-viewer", process.env.CORTEX_VIEWER_PASSWORD);
const asOperator = (page) => signIn(page, "e2e-operator", process.env.CORTEX_OPERATOR_PASSWORD);

async function fillSubscription(page, n, name) {
  await page.goto(base() + "/onboard");
  await page.getByLabel("Tenant id").fill(TENANT);
  await page.getByLabel("Subscription id").fill(sub(n));
  await page.getByLabel("Account name in Prisma Cloud").fill(name);
}

// The pages' URLs found on the way, for the viewer's tour.
const seen = {};

test("signed out: the sign-in page and a missing page", async ({ page }) => {
  await page.goto(base() + "/login");
  await check(page, "login");
  await page.getByLabel("Name").fill("admin");
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toBeVisible();
  await check(page, "login-refused");
  const r = await page.goto(base() + "/no-such-page");
  expect(r.status()).toBe(404);
  await expect(page.getByRole("link", { name: "Sign in" })).toBeVisible();
  await check(page, "not-found-signed-out");
});

test("dashboard, the wizard in each scope, error pages", async ({ page }) => {
  await asAdmin(page);
  await check(page, "dashboard");
  await page.goto(base() + "/onboard");
  await check(page, "onboard-subscription");
  // Feature help: a sentence, and the raw Azure grants only behind the toggle.
  const agentless = page.locator(".check", { has: page.getByLabel("Agentless Scanning") });
  await expect(agentless.locator(".hint")).not.toContainText("Microsoft.");
  const details = agentless.locator("details");
  await expect(details.locator("code").first()).toBeHidden();
  await details.locator("summary").click();
  await expect(details.locator("code").first()).toBeVisible();
  await expect(details).toContainText("Microsoft.");
  await check(page, "onboard-feature-details");
  await page.getByLabel("A tenant: its management groups and subscriptions").check();
  await check(page, "onboard-tenant");
  await page.getByLabel("Microsoft Entra ID only (users, groups, applications)").check();
  await check(page, "onboard-entra");
  await page.getByLabel("One subscription").check();
  await page.getByLabel("Use an existing app registration (no Terraform)").check();
  await check(page, "onboard-existing-identity");
  // A refused request: the page again, each problem named, the values kept.
  await page.getByLabel("Tenant id").fill(TENANT);
  await page.getByLabel("Subscription id").fill("not-a-subscription");
  await page.getByLabel("Account name in Prisma Cloud").fill("a11y refused");
  await page.getByRole("button", { name: "Start onboarding" }).click();
  await expect(page.locator("#problems")).toBeVisible();
  await expect(page.getByLabel("Account name in Prisma Cloud")).toHaveValue("a11y refused");
  await check(page, "onboard-refused");

  let r = await page.goto(base() + "/no-such-page");
  expect(r.status()).toBe(404);
  // The 404 page keeps the navigation.
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit log" })).toBeVisible();
  await check(page, "not-found");
  r = await page.goto(base() + "/jobs/not-a-job");
  expect(r.status()).toBe(400);
  await expect(page.getByRole("navigation", { name: "Main" })).toBeVisible();
  await check(page, "error-bad-request");
  r = await page.goto(base() + "/jobs/00000000-0000-4000-8000-000000000000");
  expect(r.status()).toBe(404);
  await check(page, "error-job-not-found");
});

test("a job awaiting approval, running, succeeded; a failed one", async ({ page }) => {
  await asAdmin(page);
  await fillSubscription(page, 1, "a11y review");
  await page.getByRole("button", { name: "Start onboarding" }).click();
  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]{36}$/);
  await expect(page.locator("#job-state")).toContainText("awaiting approval");
  await expect(page.locator("#plan-summary")).toContainText("to add");
  seen.job = page.url();
  await check(page, "job-awaiting-approval");
  await page.getByRole("button", { name: "Approve and apply" }).click();
  await expect(page.locator("#review")).toBeHidden();
  // Right after the approval the apply runs; the running page is checked as rendered then.
  await check(page, "job-running");
  await expect(page.locator("#job")).toHaveAttribute("data-finished", "true", { timeout: 45_000 });
  await expect(page.locator("#job-state")).toContainText("succeeded");
  await check(page, "job-succeeded");

  await page.goto(base() + "/onboard");
  await page.getByLabel("Tenant id").fill(TENANT);
  // The emulator's marker 0000f10e: the flow-logs role is missing.
  await page.getByLabel("Subscription id").fill("0000f10e-1111-4222-8333-a11e00000002");
  await page.getByLabel("Account name in Prisma Cloud").fill("a11y failing");
  await page.getByLabel("Ingest flow logs").check();
  await page.getByLabel("Stop after the Terraform plan so I can review it").uncheck();
  await page.getByRole("button", { name: "Start onboarding" }).click();
  await expect(page.locator("#job")).toHaveAttribute("data-finished", "true", { timeout: 45_000 });
  await expect(page.locator("#job-state")).toContainText("failed");
  seen.failedJob = page.url();
  await check(page, "job-failed");
});

test("bulk before and after the check, the batch", async ({ page }) => {
  await asAdmin(page);
  await page.goto(base() + "/bulk");
  await check(page, "bulk");
  const rows = ["subscription_id,name,groups"];
  for (let i = 0; i < 4; i++) rows.push(`${i === 2 ? "not-a-subscription" : sub(100 + i)},a11y-bulk-${i},Default Account Group`);
  await page.getByLabel(/CSV with a header row/).fill(rows.join("\n") + "\n");
  await page.getByLabel("Tenant id (for rows without a tenant_id)").fill(TENANT);
  await page.getByLabel("Use an existing app registration (no Terraform)").check();
  await page.getByLabel("Application (client) id").fill("a1111111-2222-4333-8444-555555555555");
  await page.getByLabel("Service principal object id").fill("a2222222-2222-4333-8444-555555555555");
  await page.getByLabel("Client secret").fill("a11y-bulk-secret-0123456789");
  await page.getByRole("button", { name: "Check the rows" }).click();
  await expect(page.locator("#check")).toBeVisible();
  await check(page, "bulk-checked");
  await page.getByLabel("Client secret").fill("a11y-bulk-secret-0123456789");
  await page.locator("#start").click();
  await expect(page).toHaveURL(/\/batches\/[0-9a-f-]{36}$/);
  await expect(page.locator("#batch")).toHaveAttribute("data-finished", "true", { timeout: 90_000 });
  seen.batch = page.url();
  await check(page, "batch");
});

test("connections: the list, a refused form, a test result; the audit log", async ({ page }) => {
  await asAdmin(page);
  await page.goto(base() + "/connections");
  await expect(page.locator("#connection-form")).toBeVisible();
  await check(page, "connections");
  await page.getByLabel("Name", { exact: true }).fill("a11y-lab");
  await page.getByLabel("Stack or API URL").fill("ftp://nowhere");
  await page.getByLabel("Access key id").fill("a11y-key-id");
  await page.getByLabel("Secret key").fill("a11y-secret-canary-0123456789");
  await page.getByRole("button", { name: "Save connection" }).click();
  await expect(page.getByRole("alert")).toBeVisible();
  await expect(page.getByLabel("Name", { exact: true })).toHaveValue("a11y-lab");
  await expect(page.getByLabel("Secret key")).toHaveValue("");
  expect(await page.content()).not.toContain("a11y-secret-canary-0123456789");
  await check(page, "connection-form-refused");
  await page.getByRole("button", { name: "Test connection default" }).click();
  await expect(page.locator("#test-result")).toContainText("Connection OK");
  await check(page, "connections-tested");
  await page.goto(base() + "/audit");
  await check(page, "audit");
});

/// The buttons of the page's forms that change something (POST), besides signing out.
async function actionButtons(page) {
  return page.locator('main form[method="post"] button, main form[method="post"] input[type="submit"]')
    .evaluateAll((all) => all.map((b) => (b.textContent || b.value).replace(/\s+/g, " ").trim()));
}

test("a viewer sees every page but no action button", async ({ page }) => {
  await asViewer(page);
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link", { name: "New onboarding" })).toHaveCount(0);
  await expect(nav.getByRole("link", { name: "Bulk" })).toHaveCount(0);
  const tour = [
    ["/", "viewer-dashboard"], ["/onboard", "viewer-onboard"], ["/bulk", "viewer-bulk"],
    ["/connections", "viewer-connections"], ["/audit", "viewer-audit"],
    [seen.job, "viewer-job"], [seen.failedJob, "viewer-job-failed"], [seen.batch, "viewer-batch"],
  ];
  for (const [url, name] of tour) {
    expect(url, `${name} was visited as admin first`).toBeTruthy();
    await page.goto(url.startsWith("http") ? url : base() + url);
    expect(await actionButtons(page), name).toEqual([]);
    await check(page, name);
  }
  // Only the form (read-only) is left on the wizard, and the page says why.
  await page.goto(base() + "/onboard");
  await expect(page.locator("#read-only")).toContainText("operator role");
  // Submitted anyway (a hand-made submit): refused as a page, with the values kept.
  await page.getByLabel("Tenant id").fill(TENANT);
  await page.getByLabel("Account name in Prisma Cloud").fill("viewer attempt");
  await page.evaluate(() => document.getElementById("onboard-form").submit());
  await expect(page.locator("#problems")).toContainText("e2e-viewer is a viewer: starting an onboarding needs the operator role");
  await expect(page.getByLabel("Account name in Prisma Cloud")).toHaveValue("viewer attempt");
  await check(page, "viewer-onboard-refused");
});

test("an operator tests connections but neither saves nor deletes them", async ({ page }) => {
  await asOperator(page);
  await page.goto(base() + "/connections");
  expect(await actionButtons(page)).toEqual(["Test connection default", "Test connection cortex-sandbox"]);
  await expect(page.locator("#connection-form")).toHaveCount(0);
  await check(page, "operator-connections");
});

test("a stale form is refused as its page, with what was typed", async ({ page }) => {
  await asAdmin(page);
  await fillSubscription(page, 3, "a11y stale form");
  await page.getByLabel("Agentless Scanning").check();
  await page.locator('#onboard-form input[name="csrf_token"]').evaluate((e) => { e.value = "stale"; });
  await page.getByRole("button", { name: "Start onboarding" }).click();
  await expect(page.locator("#problems")).toContainText("out of date");
  await expect(page.getByLabel("Subscription id")).toHaveValue(sub(3));
  await expect(page.getByLabel("Account name in Prisma Cloud")).toHaveValue("a11y stale form");
  await expect(page.getByLabel("Agentless Scanning")).toBeChecked();
  await check(page, "onboard-stale-form");
  // Sent again from the re-rendered page (a fresh token): it goes through.
  await page.getByRole("button", { name: "Start onboarding" }).click();
  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]{36}$/);
});

test("a session that ends while a form is open: sign in, back to the form, values kept", async ({ page, context }) => {
  await asAdmin(page);
  await fillSubscription(page, 4, "a11y expired session");
  await page.getByLabel("A tenant: its management groups and subscriptions").check();
  await page.getByLabel("Except these subscriptions").fill(sub(5));
  await page.getByLabel("Use an existing app registration (no Terraform)").check();
  await page.getByLabel("Application (client) id").fill("a3333333-2222-4333-8444-555555555555");
  await page.getByLabel("Client secret").fill("a11y-expired-secret-0123456789");
  await page.getByLabel("Remediation").check();
  // The session ends on the server (signed out elsewhere) while the browser still holds its
  // cookie: exactly what an expired session looks like to the server.
  const cookies = await context.cookies();
  const csrf = await page.locator('#onboard-form input[name="csrf_token"]').inputValue();
  const out = await page.request.post(base() + "/api/v1/auth/logout", { headers: { "x-csrf-token": csrf } });
  expect(out.status()).toBeLessThan(300);
  await context.addCookies(cookies);
  await page.getByRole("button", { name: "Start onboarding" }).click();

  await expect(page).toHaveURL(/\/login\?next=/);
  await expect(page.locator("#login-notice")).toContainText("Your session ended");
  await check(page, "login-session-ended");
  await page.getByLabel("Name").fill("admin");
  await page.getByLabel("Password").fill(process.env.CORTEX_ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();

  await expect(page).toHaveURL(/\/onboard$/);
  await expect(page.locator("#restored")).toContainText("Secrets are never kept");
  await expect(page.getByLabel("A tenant: its management groups and subscriptions")).toBeChecked();
  await expect(page.getByLabel("Except these subscriptions")).toBeVisible();
  await expect(page.getByLabel("Except these subscriptions")).toHaveValue(sub(5));
  await expect(page.getByLabel("Account name in Prisma Cloud")).toHaveValue("a11y expired session");
  await expect(page.getByLabel("Application (client) id")).toHaveValue("a3333333-2222-4333-8444-555555555555");
  await expect(page.getByLabel("Remediation")).toBeChecked();
  await expect(page.getByLabel("Client secret")).toHaveValue("");
  await check(page, "onboard-restored");
  // Values are kept once: a later visit starts afresh.
  await page.goto(base() + "/onboard");
  await expect(page.getByLabel("Account name in Prisma Cloud")).toHaveValue("");
});
