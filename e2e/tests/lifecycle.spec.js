// After onboarding, in a real browser against a sandbox of its own (a 2-second health-watch
// round; the emulator's runtime controls from the owner-only file `serve --sandbox` writes,
// docs/emulator.md 8.5): a capability fails and recovers at runtime, and the dashboard and the
// account's timeline follow; the client secret is aged past its end and rotated from the
// account page (the job green, the account healthy again: the emulator holds a new key);
// offboarding with the destroy plan reviewed and approved (the job green, the account
// disabled). Every new page state checked with axe-core and at 390 px (support.js).
const { test, expect } = require("@playwright/test");
const { checkPage, onboardViaApi, signIn } = require("../support");
const { startSandbox, emulatorControls } = require("../sandbox");

test.describe.configure({ mode: "serial", timeout: 300_000 });

const SUB = "4ea17000-0000-4000-8000-0000000015a1";
const NAME = "e2e-lifecycle";
let server;
let controls;

test.beforeAll(async () => {
  server = await startSandbox(["--watch-interval-secs", "2"]);
  controls = emulatorControls(server.dataDir);
});

test.afterAll(async () => {
  if (server) await server.stop();
});

/// One of the emulator's runtime controls (204 expected).
async function control(page, method, path, data) {
  const r = await page.request.fetch(controls.url + path, {
    method,
    headers: { authorization: `Bearer ${controls.token}` },
    data,
  });
  expect(r.status(), `${method} ${path}`).toBe(204);
}

/// The dashboard's health cell of the account, reloaded until it says `text`.
async function expectHealth(page, text) {
  await expect.poll(async () => {
    await page.goto(server.url + `/?q=${NAME}`);
    return page.locator(`#accounts tr[data-account="${SUB}"] .health-cell`).innerText();
  }, { timeout: 60_000, intervals: [1_000] }).toContain(text);
}

/// On a job page: waits for the job's state badge to read `state`.
async function expectJob(page, state) {
  await expect(page.locator("#job-state")).toContainText(state, { timeout: 120_000 });
}

test("a capability fails and recovers at runtime: the dashboard and the timeline follow", async ({ page }) => {
  await signIn(page, server);
  await onboardViaApi(page, SUB, NAME, server);
  await expectHealth(page, "ok");

  await control(page, "PUT", `/_emulator/accounts/${SUB}/scenario`, { scenario: "subscription_not_found" });
  await expectHealth(page, "ok, now error");
  const row = page.locator(`#accounts tr[data-account="${SUB}"]`);
  await checkPage(page, "lifecycle-dashboard-degraded");
  await row.getByRole("link", { name: NAME }).click();
  await expect(page.locator("#health-now")).toContainText("error");
  await expect(page.locator("#timeline")).toBeVisible();
  await expect(page.locator("#health-changed")).toContainText("ok, now error");
  await page.locator("#timeline-table summary").click();
  await expect(page.locator("#timeline-table tbody")).toContainText("error");
  await checkPage(page, "lifecycle-account-degraded");

  await control(page, "PUT", `/_emulator/accounts/${SUB}/scenario`, { scenario: "healthy" });
  await expectHealth(page, "error, now ok");
});

test("an aged secret is rotated from the account page: the job green, the account healthy", async ({ page }) => {
  await signIn(page, server);
  // The secret the account holds ends now: Azure refuses it, every capability reads error.
  await control(page, "PUT", `/_emulator/accounts/${SUB}/secret`, { end_date: "2020-01-01T00:00:00Z" });
  await expectHealth(page, "ok, now error");
  await page.goto(server.url + `/accounts/${SUB}`);
  await expect(page.locator("#health-capabilities")).toContainText("AADSTS7000222");
  const rotate = page.locator("#rotate-form");
  await expect(rotate.getByLabel("New client secret")).toHaveCount(0);
  await checkPage(page, "lifecycle-account-actions");
  await rotate.getByRole("button", { name: "Rotate secret" }).click();
  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]+$/);
  await expectJob(page, "succeeded");
  await checkPage(page, "lifecycle-rotation-job");
  // The account now holds another key, which has no end date in the emulator: healthy again.
  await expectHealth(page, "error, now ok");
});

test("offboarding reviews the destroy plan, then disables the account", async ({ page }) => {
  await signIn(page, server);
  await page.goto(server.url + `/accounts/${SUB}`);
  const offboard = page.locator("#offboard-form");
  await expect(offboard.getByLabel(/Destroy it/)).toBeChecked();
  await expect(offboard.getByLabel("Stop at the destroy plan for my review")).toBeChecked();
  await offboard.getByRole("button", { name: "Offboard" }).click();
  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]+$/);
  await expectJob(page, "awaiting approval");
  const review = page.locator("#review");
  await expect(review).toBeVisible();
  await expect(page.locator("#plan-summary")).toContainText(/[1-9]\d* to destroy/);
  await expect(page.locator("#plan-words")).toContainText("destroy");
  await checkPage(page, "lifecycle-destroy-review");
  await page.getByRole("button", { name: "Approve and apply" }).click();
  await expectJob(page, "succeeded");
  await page.goto(server.url + `/accounts/${SUB}`);
  await expect(page.locator("#platform-status")).toContainText("disabled");
  await expect(page.locator("#lifecycle-unavailable")).toContainText("offboarded");
  await checkPage(page, "lifecycle-offboarded");
});
