// Single sign-on in the sandbox: "Sign in with Microsoft Entra ID" goes to the emulated Entra ID's
// sign-in page, a user is picked there, and the dashboard shows the role their groups or app
// roles map to. A viewer sees no action buttons; a user in no mapped group is told why; signing
// out offers the provider's end-session. Screenshots go to target/e2e-screenshots/.
const { test, expect } = require("@playwright/test");
const path = require("path");

const SHOTS = path.join(__dirname, "..", "..", "target", "e2e-screenshots");
const base = () => process.env.CORTEX_URL;
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

async function signInWithEntra(page, upn) {
  await page.goto(base() + "/login");
  await page.getByRole("link", { name: "Sign in with Microsoft Entra ID" }).click();
  // The provider's page, on its own origin.
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  expect(new URL(page.url()).origin).not.toBe(new URL(base()).origin);
  await expect(page).toHaveURL(/\/oauth2\/v2\.0\/authorize\?/);
  await page.getByRole("button", { name: new RegExp(upn.replace(".", "\\.")) }).click();
}

test("an admin-mapped user signs in through the provider and lands on the dashboard", async ({ page }) => {
  await page.goto(base() + "/login");
  await expect(page.getByRole("link", { name: "Sign in with Microsoft Entra ID" })).toBeVisible();
  // The break-glass local form stays.
  await expect(page.getByLabel("Password")).toBeVisible();
  await shot(page, "login-sso");
  await signInWithEntra(page, "alice@contoso.example");
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  await expect(page.locator("form.who")).toContainText("alice@contoso.example");
  await expect(page.locator("form.who")).toContainText("(admin)");
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "New onboarding" })).toBeVisible();
  await page.goto(base() + "/onboard");
  await expect(page.getByRole("button", { name: "Start onboarding" })).toBeVisible();
  await page.goto(base() + "/audit");
  await expect(page.locator("#audit tbody")).toContainText("sso:alice@contoso.example:1a000000-0000-4000-8000-00000000a001");
});

test("a viewer-mapped user sees no action buttons, then signs out", async ({ page }) => {
  await signInWithEntra(page, "vera@contoso.example");
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  await expect(page.locator("form.who")).toContainText("(viewer)");
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link", { name: "Dashboard" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "New onboarding" })).toHaveCount(0);
  await expect(nav.getByRole("link", { name: "Bulk" })).toHaveCount(0);
  await shot(page, "dashboard-viewer-sso");
  // The onboarding form can be read, not started.
  await page.goto(base() + "/onboard");
  await expect(page.getByRole("heading", { name: "New onboarding" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Start onboarding" })).toHaveCount(0);
  await expect(page.locator("#read-only")).toContainText("needs the operator role");

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("heading", { name: "Signed out" })).toBeVisible();
  await shot(page, "signed-out-sso");
  await page.getByRole("link", { name: "Also sign out of Microsoft Entra ID" }).click();
  // The provider sends the browser back to our sign-in page.
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await expect(page).toHaveURL(new RegExp("^" + base().replace(/[.]/g, "\\.") + "/login"));
  await page.goto(base() + "/");
  await expect(page).toHaveURL(/\/login$/);
});

test("a user in no mapped group is told why", async ({ page }) => {
  await signInWithEntra(page, "nick@contoso.example");
  await expect(page.getByRole("heading", { name: "Sign-in refused" })).toBeVisible();
  await expect(page.getByRole("alert")).toContainText("none of your groups or app roles is mapped");
  await shot(page, "sso-refused");
  await page.goto(base() + "/");
  await expect(page).toHaveURL(/\/login$/);
});
