// The Coverage page on the sandbox (serve --sandbox: the emulated Azure's seeded tenant
// Contoso, some of whose subscriptions the sandbox's first start onboarded): covered and
// uncovered subscriptions side by side, the "not covered only" filter, two subscriptions
// selected, reviewed and onboarded as one batch whose page shows exactly them; axe-core and
// no horizontal overflow at 1280 px and 390 px on the page and its review.
const { test, expect } = require("@playwright/test");
const { AxeBuilder } = require("@axe-core/playwright");
const { base, shot, signIn } = require("../support");

const WIDTHS = [[1280, 800], [390, 844]];

test.describe.configure({ mode: "serial", timeout: 180_000 });

async function check(page, name) {
  for (const [width, height] of WIDTHS) {
    await page.setViewportSize({ width, height });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect.soft(overflow, `${name} at ${width} px overflows by ${overflow} px`).toBeLessThanOrEqual(0);
    const axe = await new AxeBuilder({ page }).analyze();
    const found = axe.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    expect.soft(found, `axe violations on ${name} at ${width} px`).toEqual([]);
    await shot(page, `${name}-${width}`);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

test("coverage: covered and not covered, filtered, two onboarded as one batch", async ({ page }) => {
  await signIn(page);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Coverage" }).click();
  await expect(page.getByRole("heading", { name: "Coverage", level: 1 })).toBeVisible();
  await expect(page.locator("#totals")).toContainText("36 subscriptions");
  const covered = page.locator('#coverage tr[data-state="covered"]');
  const notCovered = page.locator('#coverage tr[data-state="not-covered"]');
  await expect(covered.first()).toContainText("own account");
  expect(await covered.count()).toBeGreaterThan(0);
  await expect(page.locator("#coverage")).toContainText("onboarded but disabled");
  await expect(page.locator("#coverage")).toContainText("not onboarded");
  const all = await page.locator("#coverage tr[data-subscription]").count();
  expect(all).toBe(36);
  await check(page, "coverage");

  // Keyboard: the filter is a labelled checkbox and a button.
  await page.getByLabel("Not covered only").focus();
  await page.keyboard.press("Space");
  await page.getByRole("button", { name: "Apply" }).press("Enter");
  await expect(page).toHaveURL(/not_covered=on/);
  await expect(covered).toHaveCount(0);
  expect(await notCovered.count()).toBeGreaterThan(0);
  expect(await notCovered.count()).toBeLessThan(all);

  await page.getByLabel("Search by name or id").fill("online-web");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(notCovered).toHaveCount(10);
  const picked = ["online-web-01", "online-web-02"];
  const ids = [];
  for (const name of picked) {
    const box = page.getByRole("checkbox", { name: `Select ${name}` });
    await box.check();
    ids.push(await box.getAttribute("value"));
  }
  await page.getByRole("button", { name: "Review the selected subscriptions" }).click();
  await expect(page.getByRole("heading", { name: "Review: onboard 2 subscriptions" })).toBeVisible();
  const reviewRows = page.locator("#review-rows tbody tr");
  await expect(reviewRows).toHaveCount(2);
  for (const name of picked) await expect(page.locator("#review-rows")).toContainText(name);
  await expect(page.getByLabel("One per tenant, shared by these subscriptions")).toBeChecked();
  await expect(page.locator("#tenant-option")).toContainText("one tenant account");
  await check(page, "coverage-review");

  await page.getByRole("button", { name: "Onboard 2 subscriptions as one batch" }).click();
  await expect(page).toHaveURL(/\/batches\//);
  const rows = page.locator("table tbody tr");
  for (const id of ids) await expect(page.locator("main")).toContainText(id);
  await expect(page.locator("main")).toContainText("coverage: 2 subscriptions");
  expect(await rows.count()).toBeGreaterThanOrEqual(2);
  await shot(page, "coverage-batch");
});

test("coverage at 390 px: the table scrolls inside its box and the buttons stay reachable", async ({ page }) => {
  await signIn(page);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(base() + "/coverage?not_covered=on");
  await expect(page.getByRole("button", { name: "Review the selected subscriptions" })).toBeVisible();
  const wide = await page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);
  expect(wide).toBe(true);
});
