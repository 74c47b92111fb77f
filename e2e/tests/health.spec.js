// The health watch's pages in a real browser: an onboarded account's row links to its page
// (overview, health, notifications, the actions area), notification sinks added, tested
// against a closed port and deleted (the address and the key never shown), the dead letters
// page; every state checked with axe-core and at 390 px (support.js's checkPage).
//
// Not here: a degradation at runtime, which needs a short health-watch round and the sandbox
// emulator's controls: lifecycle.spec.js runs it on a sandbox of its own. Retry and Discard of
// dead letters are proven on the real server by crates/cortex-web/tests/web/health_pages.rs.
const { test, expect } = require("@playwright/test");
const net = require("net");
const { base, checkPage, signIn, TENANT } = require("../support");

test.describe.configure({ mode: "serial", timeout: 240_000 });

const SUB = "4ea17000-0000-4000-8000-000000000001";
const SINK_KEY = "E2E-CANARY-SINK-KEY-4d2b91";

/// A port nothing listens on (bound, then closed).
function closedPort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function csrf(page) {
  const r = await page.request.get(base() + "/api/v1/auth/session");
  return (await r.json()).csrf_token;
}

test("an onboarded account has its page, linked from the dashboard", async ({ page }) => {
  await signIn(page);
  const token = await csrf(page);
  const submitted = await page.request.post(base() + "/api/v1/jobs", {
    headers: { "x-csrf-token": token },
    data: { scope: "subscription", subscription_id: SUB, tenant_id: TENANT, name: "e2e-health", groups: ["Default Account Group"] },
  });
  expect(submitted.status()).toBe(202);
  const job = (await submitted.json()).id;
  await expect.poll(async () => (await (await page.request.get(base() + `/api/v1/jobs/${job}`)).json()).state,
    { timeout: 120_000 }).toBe("succeeded");

  await page.goto(base() + "/?q=e2e-health");
  const row = page.locator(`#accounts tr[data-account="${SUB}"]`);
  await expect(row.locator(".health-cell")).toContainText("not checked yet");
  await checkPage(page, "dashboard-health");
  await row.getByRole("link", { name: "e2e-health" }).click();
  await expect(page).toHaveURL(new RegExp(`/accounts/${SUB}$`));
  await expect(page.getByRole("heading", { name: "Account e2e-health" })).toBeVisible();
  await expect(page.locator("#platform-status")).toContainText("enabled");
  await expect(page.locator("#secret")).toContainText(/days left/);
  await expect(page.locator("#health-none")).toBeVisible();
  await expect(page.getByRole("heading", { name: "Actions" })).toBeVisible();
  await checkPage(page, "account");

  const missing = await page.goto(base() + "/accounts/not-a-guid");
  expect(missing.status()).toBe(404);
  await expect(page.getByRole("navigation", { name: "Main" })).toBeVisible();
});

test("sinks are added, tested and deleted; the dead letters page", async ({ page }) => {
  await signIn(page);
  const port = await closedPort();
  await page.goto(base() + "/notifications/sinks");
  await expect(page.locator("#no-sinks")).toBeVisible();
  await checkPage(page, "sinks-empty");
  await page.getByLabel("Name").fill("e2e-closed");
  await page.getByLabel("Kind").selectOption("webhook");
  await page.getByLabel("Address (URL)").fill(`http://127.0.0.1:${port}/hook/E2EPATHSECRET`);
  await page.getByLabel("Signing key (webhook)").fill(SINK_KEY);
  await page.getByRole("button", { name: "Save sink" }).click();
  await expect(page.locator("#notice")).toContainText("Sink e2e-closed saved.");
  const row = page.locator('#sinks tr[data-sink="e2e-closed"]');
  await expect(row).toContainText("http://127.0.0.1/…");
  await checkPage(page, "sinks");
  await row.getByRole("button", { name: "Test sink e2e-closed" }).click();
  await expect(page.locator("#tested")).toContainText("not delivered");
  await expect(page.locator("#tested")).toContainText("connection refused or unreachable");
  await checkPage(page, "sinks-tested");
  const html = await page.content();
  for (const secret of ["E2EPATHSECRET", SINK_KEY, String(port)]) expect(html).not.toContain(secret);

  // A refused form names its fields and never types the address back.
  await page.getByLabel("Name").fill("Bad Name");
  await page.getByLabel("Address (URL)").fill("ftp://E2EPATHSECRET");
  await page.getByRole("button", { name: "Save sink" }).click();
  await expect(page.locator("#problems")).toContainText("name");
  expect(await page.getByLabel("Address (URL)").inputValue()).toBe("");
  expect(await page.content()).not.toContain("E2EPATHSECRET");
  await checkPage(page, "sinks-refused");

  await page.goto(base() + "/notifications/sinks");
  await page.locator('#sinks tr[data-sink="e2e-closed"]').getByRole("button", { name: "Delete sink e2e-closed" }).click();
  await expect(page.locator("#notice")).toContainText("Sink e2e-closed deleted.");

  await page.goto(base() + "/notifications/dead-letters");
  await expect(page.getByRole("heading", { level: 1, name: "Dead letters", exact: true })).toBeVisible();
  await checkPage(page, "dead-letters");
});
