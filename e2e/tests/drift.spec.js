// Drift and adoption in a real browser, on a sandbox of its own: an onboarded account changed
// through the emulator's Prisma Cloud API (disabled, as someone in the console would, with the
// key from the sandbox's owner-only controls file), the account page shows the difference field
// by field after *Check now*, *Reconcile* starts a job that waits at its review, approved it
// puts the account back, and the drift is gone. The Adopt page lists the sandbox's accounts
// onboarded elsewhere and adopts one, whose page then says why rotation and offboarding are
// unavailable. Every new page state checked with axe-core and at 390 px (support.js).
const { test, expect } = require("@playwright/test");
const { checkPage, onboardViaApi, signIn } = require("../support");
const { startSandbox, emulatorControls } = require("../sandbox");

test.describe.configure({ mode: "serial", timeout: 300_000 });

const SUB = "4ea17000-0000-4000-8000-0000000015d1";
const NAME = "e2e-drift";
let server;
let controls;

test.beforeAll(async () => {
  server = await startSandbox();
  controls = emulatorControls(server.dataDir);
});

test.afterAll(async () => {
  if (server) await server.stop();
});

/// Disables the account through the emulator's Prisma Cloud API, outside the product.
async function disableInTheConsole(page, account) {
  const login = await page.request.post(controls.url + "/login", {
    data: { username: controls.access_key_id, password: controls.secret_key },
  });
  expect(login.status()).toBe(200);
  const { token } = await login.json();
  const r = await page.request.patch(controls.url + `/cloud/${account}/status/false`, {
    headers: { "x-redlock-auth": token },
  });
  expect(r.ok(), `disable: ${r.status()}`).toBeTruthy();
}

async function checkNow(page) {
  await page.locator("#drift").getByRole("button", { name: "Check now" }).click();
  await expect(page.locator("#notice")).toContainText("Checked for drift just now.");
}

test("a change made on the platform shows as drift, is reconciled after review, and is gone", async ({ page }) => {
  await signIn(page, server);
  await onboardViaApi(page, SUB, NAME, server);

  await page.goto(server.url + `/accounts/${SUB}`);
  await checkNow(page);
  await expect(page.locator("#drift-none")).toBeVisible();

  await disableInTheConsole(page, SUB);
  // The emulator's reads follow its writes after a short delay (eventual consistency).
  await expect.poll(async () => {
    await page.goto(server.url + `/accounts/${SUB}`);
    await checkNow(page);
    return page.locator("#drift-found").count();
  }, { timeout: 30_000, intervals: [1_000] }).toBe(1);
  const row = page.locator("#drift-differences tbody tr").filter({ hasText: "enabled" });
  await expect(row.locator("td").nth(0)).toHaveText("false");
  await expect(row.locator("td").nth(1)).toHaveText("true");
  await checkPage(page, "drift-found");

  await page.locator("#drift").getByRole("button", { name: "Reconcile" }).click();
  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]+$/);
  await expect(page.locator("#job-state")).toContainText("awaiting approval", { timeout: 60_000 });
  await checkPage(page, "drift-reconcile-review");
  await page.getByRole("button", { name: "Approve and apply" }).click();
  await expect(page.locator("#job-state")).toContainText("succeeded", { timeout: 60_000 });

  await expect.poll(async () => {
    await page.goto(server.url + `/accounts/${SUB}`);
    await checkNow(page);
    return page.locator("#drift-none").count();
  }, { timeout: 30_000, intervals: [1_000] }).toBe(1);
  await expect(page.locator("#platform-status")).toContainText("enabled");
  await checkPage(page, "drift-none");
});

test("the Adopt page takes an account onboarded elsewhere into management", async ({ page }) => {
  await signIn(page, server);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Adopt" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Adopt accounts onboarded elsewhere");
  const rows = page.locator("#adoptable tbody tr");
  // The sandbox's first start planted accounts "onboarded elsewhere"; ours is not among them.
  await expect(rows.first()).toBeVisible();
  await expect(page.locator(`#adoptable tr[data-account="${SUB}"]`)).toHaveCount(0);
  await checkPage(page, "adoption");
  const first = rows.first();
  const id = await first.getAttribute("data-account");
  const name = (await first.locator("td").nth(1).innerText()).trim();
  await first.getByRole("checkbox").check();
  await page.getByRole("button", { name: "Adopt the ticked accounts" }).click();
  await expect(page.locator("#notice")).toContainText("Adopted 1 account");
  await expect(page.locator(`#adoptable tr[data-account="${id}"]`)).toHaveCount(0);
  await checkPage(page, "adoption-adopted");
  await page.locator("#adopted").getByRole("link", { name }).click();
  await expect(page).toHaveURL(new RegExp(`/accounts/${id}$`));
  await expect(page.locator("#lifecycle-unavailable")).toContainText("no Terraform state");
  await expect(page.locator("#drift")).toContainText("adopted account");
  await checkPage(page, "account-adopted");
});
