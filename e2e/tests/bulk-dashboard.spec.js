// Bulk that keeps every row, and the dashboard: a bulk run with skipped rows (the check's
// results right above the start button; the batch page and its CSV export keep the skipped
// rows with their original row numbers), the dashboard's paging and links and kinds in words,
// and a job page whose result card appears when the job finishes, without a reload.
// Runs on the shared sandbox server (global-setup.js): its ids and names are its own
// (c13c…, e2e-paged-…), so other specs' accounts do not change its counts.
const { test, expect } = require("@playwright/test");
const fs = require("fs");
const path = require("path");

const SHOTS = path.join(__dirname, "..", "..", "target", "e2e-screenshots");
const base = () => process.env.CORTEX_URL;
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

const TENANT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const subscription = (i) => `c13c0000-0000-4000-8000-${String(i).padStart(12, "0")}`;
// 16 data rows (spreadsheet rows 2-17): row 5 is not a UUID, row 9 repeats row 2.
const BAD_ROWS = { 5: "not-a-subscription", 9: subscription(0) };
const DATA_ROWS = 16;
const VALID = DATA_ROWS - Object.keys(BAD_ROWS).length;

test.describe.configure({ mode: "serial" });

async function signIn(page) {
  await page.goto(base() + "/login");
  await page.getByLabel("Name").fill("admin");
  await page.getByLabel("Password").fill(process.env.CORTEX_ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
}

function bulkCsv() {
  const lines = ["subscription_id,name"];
  for (let row = 2; row < 2 + DATA_ROWS; row++) {
    const id = BAD_ROWS[row] || subscription(row - 2);
    lines.push(`${id},e2e-paged-${String(row - 2).padStart(2, "0")}`);
  }
  return lines.join("\n") + "\n";
}

test("bulk with skipped rows: the check sits above the start button; the batch page and its CSV keep every row with its number", async ({ page }) => {
  await signIn(page);
  await page.goto(base() + "/bulk");
  await page.getByLabel(/CSV with a header row/).fill(bulkCsv());
  await page.getByLabel("Tenant id (for rows without a tenant_id)").fill(TENANT);
  await page.getByLabel("Use an existing app registration (no Terraform)").check();
  await page.getByLabel("Application (client) id").fill("c1311111-2222-4333-8444-555555555555");
  await page.getByLabel("Service principal object id").fill("c1322222-2222-4333-8444-555555555555");
  await page.getByLabel("Client secret").fill("e2e-h13c-secret-0123456789");
  await page.getByRole("button", { name: "Check the rows" }).click();

  // The results and the start button are on screen together, the results right above it.
  await expect(page.locator("#check h2")).toHaveText(`Checked: ${VALID} valid, 2 with problems`);
  await expect(page.locator("#check-skip")).toContainText("rows 5, 9");
  const start = page.getByRole("button", { name: `Onboard ${VALID} subscriptions (skip 2 invalid rows)` });
  await expect(page.locator("#check-h")).toBeInViewport();
  await expect(start).toBeInViewport();
  const checkBox = await page.locator("#check").boundingBox();
  const startBox = await start.boundingBox();
  expect(startBox.y).toBeGreaterThan(checkBox.y + checkBox.height - 1);
  expect(startBox.y - (checkBox.y + checkBox.height)).toBeLessThan(80);
  await expect(page.locator('#check tr[data-row="5"]')).toContainText("row 5 subscription_id");
  await expect(page.locator('#check tr[data-row="9"]')).toContainText("already in row 2");
  await shot(page, "bulk-checked-skipped");

  // The secret is never sent back to the browser: type it again, then start.
  await page.getByLabel("Client secret").fill("e2e-h13c-secret-0123456789");
  await start.click();
  await expect(page).toHaveURL(/\/batches\/[0-9a-f-]{36}$/);
  await expect(page.locator("#batch")).toHaveAttribute("data-finished", "true", { timeout: 90_000 });
  await expect(page.locator("#n-total")).toHaveText(String(VALID));
  await expect(page.locator("#n-onboarded")).toHaveText(String(VALID));
  await expect(page.locator("#n-skipped")).toHaveText("2");
  await expect(page.locator("#skipped-note")).toContainText("rows 5, 9");
  // Every row of the file, in row order; the skipped ones with their problems.
  const numbers = await page.locator("#rows tr").evaluateAll((trs) => trs.map((tr) => tr.dataset.row));
  expect(numbers).toEqual(Array.from({ length: DATA_ROWS }, (_, i) => String(i + 2)));
  const skipped = page.locator('#rows tr[data-skipped="true"]');
  await expect(skipped).toHaveCount(2);
  await expect(skipped.nth(0).locator(".row-number")).toHaveText("5");
  await expect(skipped.nth(0)).toContainText("not-a-subscription");
  await expect(skipped.nth(0)).toContainText("row 5 subscription_id");
  await expect(skipped.nth(1).locator(".row-number")).toHaveText("9");
  await expect(skipped.nth(1)).toContainText("already in row 2");
  await expect(page.locator('#rows tr[data-job-id][data-state="succeeded"]')).toHaveCount(VALID);
  await shot(page, "batch-skipped");

  // A reload (no live stream: the batch is finished) still shows them.
  await page.reload();
  await expect(page.locator('#rows tr[data-skipped="true"]')).toHaveCount(2);

  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download the results (CSV)" }).click(),
  ]);
  const lines = fs.readFileSync(await download.path(), "utf8").trim().split("\n");
  expect(lines[0]).toBe("row,subscription_id,name,state,outcome,error_code,error_message,job_id");
  expect(lines.length).toBe(1 + DATA_ROWS);
  expect(lines.slice(1).map((l) => l.split(",")[0])).toEqual(Array.from({ length: DATA_ROWS }, (_, i) => String(i + 2)));
  expect(lines[4]).toMatch(/^5,not-a-subscription,e2e-paged-03,skipped,,invalid_row,"?row 5 subscription_id: .+,$/);
  expect(lines[8]).toMatch(/^9,c13c0000-0000-4000-8000-000000000000,e2e-paged-07,skipped,,invalid_row,.*already in row 2.*,$/);
  expect(lines.filter((l) => /,succeeded,created,/.test(l)).length).toBe(VALID);
});

test("dashboard: paged on the server, names link to their account page (and on to the job), kinds read as words", async ({ page }) => {
  await signIn(page);
  // The 14 accounts of the batch above, 10 a page.
  await page.getByLabel("Search by name or id").fill("e2e-paged");
  await page.getByLabel("Per page").selectOption("10");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page).toHaveURL(/per_page=10/);
  const rows = page.locator("#accounts tbody tr");
  await expect(rows).toHaveCount(10);
  const pages = page.getByRole("navigation", { name: "Pages of accounts" });
  await expect(pages).toContainText(`1 to 10 of ${VALID} accounts · page 1 of 2`);
  await expect(rows.first()).toContainText("e2e-paged-00");
  await shot(page, "dashboard-paged");
  await pages.getByRole("link", { name: "Next" }).click();
  await expect(rows).toHaveCount(VALID - 10);
  await expect(pages).toContainText(`11 to ${VALID} of ${VALID} accounts · page 2 of 2`);
  await expect(page.getByLabel("Search by name or id")).toHaveValue("e2e-paged");
  await expect(pages.getByRole("link", { name: "Next" })).toHaveCount(0);
  await pages.getByRole("link", { name: "Previous" }).click();
  await expect(rows).toHaveCount(10);

  // Kinds in words, in both tables.
  await expect(rows.first().locator("td").nth(2)).toHaveText("Subscription");
  const recent = page.locator("section", { has: page.getByRole("heading", { name: "Recent jobs" }) });
  await expect(recent.getByRole("cell", { name: "Subscription onboarding" }).first()).toBeVisible();
  expect(await page.content()).not.toContain("onboard_subscription");

  // A name is a link to the account's page, which links to its newest job.
  await rows.first().getByRole("link", { name: "e2e-paged-00" }).click();
  await expect(page).toHaveURL(/\/accounts\/[0-9a-f-]{36}$/);
  await expect(page.locator("h1 .name")).toHaveText("e2e-paged-00");
  await page.locator("dd a[href^='/jobs/']").first().click();
  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]{36}$/);
  await expect(page.locator("h1 .name")).toHaveText("e2e-paged-00");
  await expect(page.locator("p.meta").first()).toContainText("Subscription onboarding");
});

test("the job page's result card appears when the job finishes, without a reload; the dashboard shows the secret's expiry", async ({ page }) => {
  await signIn(page);
  await page.goto(base() + "/onboard");
  await page.getByLabel("Tenant id").fill(TENANT);
  await page.getByLabel("Subscription id").fill(subscription(900));
  await page.getByLabel("Account name in Prisma Cloud").fill("e2e-live-card");
  await page.getByLabel("Stop after the Terraform plan so I can review it").uncheck();
  await page.getByRole("button", { name: "Start onboarding" }).click();
  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]{36}$/);
  // A marker that a reload would lose.
  await page.evaluate(() => { window.__notReloaded = true; });
  await expect(page.locator("#job")).toHaveAttribute("data-finished", "true", { timeout: 45_000 });
  const card = page.locator("#outputs");
  await expect(card).toBeVisible();
  await expect(card.getByRole("heading", { name: "Result" })).toBeVisible();
  await expect(card).toContainText("Prisma Cloud account");
  await expect(card).toContainText(subscription(900));
  await expect(card).toContainText(/expires \d{4}-\d{2}-\d{2}/);
  await expect(page.locator("#outputs")).toHaveCount(1);
  expect(await page.evaluate(() => window.__notReloaded === true)).toBe(true);
  await shot(page, "job-live-result-card");

  // The identity Terraform created for the subscription: its secret's expiry on the dashboard.
  await page.goto(base() + "/?q=e2e-live-card");
  const row = page.locator(`#accounts tr[data-account="${subscription(900)}"]`);
  await expect(row).toContainText(/\d+ days left/);
  await expect(row).toContainText(/\d{4}-\d{2}-\d{2}/);
});
