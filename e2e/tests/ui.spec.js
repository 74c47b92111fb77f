// The web UI end to end, in sandbox mode: sign-in, dashboard, onboarding one subscription and
// watching it live, reload mid-job, CSRF refusal. Screenshots go to target/e2e-screenshots/.
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

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Onboard a subscription" }).click();
  await expect(page.getByRole("heading", { name: "Onboard a subscription" })).toBeVisible();
  await page.getByLabel("Tenant id").fill(TENANT);
  await page.getByLabel("Subscription id").fill(SUBSCRIPTION);
  await page.getByLabel("Account name in Prisma Cloud").fill("e2e <prod> & co");
  await page.getByLabel("Agentless Scanning").check();
  await page.getByLabel("Flow logs").check();
  await shot(page, "onboard");
  await page.getByRole("button", { name: "Onboard" }).click();

  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]{36}$/);
  await expect(page.locator("h1 .name")).toHaveText("e2e <prod> & co");
  // Mid-job: as soon as the first step is done, reload; the history must all be there.
  await expect(page.locator('li[data-step="validate"] .state')).toHaveText("succeeded");
  await page.reload();
  await expect(page.locator('li[data-step="validate"] .state')).toHaveText("succeeded");
  await expect(page.locator('li[data-step="validate"] .elapsed')).toHaveText(/\d+\.\d s/);

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
