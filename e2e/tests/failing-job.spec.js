// The failing job and what leads on from it, in sandbox mode: the emulator's failing-scenario
// marker (subscription ids starting 0000f10e fail the flow-logs check) → one card per failing
// capability, the pre-flight step failed and nothing registered → *Edit and retry* with the
// marker removed → green. Also: the header says what is onboarded, and the plan review says
// in words what Terraform will create, with the raw addresses behind a toggle.
// Screenshots go to target/e2e-screenshots/.
const { test, expect } = require("@playwright/test");
const { base, shot, signIn, TENANT } = require("../support");

// The marker in the first 8 hex digits; the rest distinguishes this spec's accounts.
const BROKEN = "0000f10e-13b0-4222-8333-444444444444";
const HEALTHY = "13b00000-13b0-4222-8333-444444444444";

test.describe.configure({ mode: "serial" });

async function finished(page) {
  await expect(page.locator("#job")).toHaveAttribute("data-finished", "true", { timeout: 45_000 });
}

test("failing job: one card per failing capability, stopped before registering; edit and retry turns it green", async ({ page }) => {
  await signIn(page);
  await page.goto(base() + "/onboard");
  await page.getByLabel("Tenant id").fill(TENANT);
  await page.getByLabel("Subscription id").fill(BROKEN);
  await page.getByLabel("Account name in Prisma Cloud").fill("e2e failing job");
  await page.getByLabel("Ingest flow logs").check();
  await page.getByLabel("Remediation").check();
  await page.getByLabel("Stop after the Terraform plan so I can review it").uncheck();
  await expect(page.getByLabel("Register even if the pre-flight checks fail")).not.toBeChecked();
  await page.getByRole("button", { name: "Start onboarding" }).click();
  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]{36}$/);
  const failedUrl = page.url();
  await finished(page);
  await expect(page.locator("#job-state")).toContainText("failed");

  // The header says what this job onboards.
  const what = page.locator("#what");
  await expect(what).toContainText(BROKEN);
  await expect(what).toContainText(TENANT);
  await expect(what).toContainText("Remediation");
  await expect(what.locator("dt", { hasText: "Flow logs" }).locator("xpath=following-sibling::dd[1]")).toHaveText("on");
  await expect(what).toContainText("Default Account Group");
  await expect(what).toContainText("stop before registering");

  // One card, for the one failing capability: why, the fix, the docs.
  const cards = page.locator("#capabilities li.failure");
  await expect(cards).toHaveCount(1);
  const card = cards.first();
  await expect(card).toHaveAttribute("data-capability", "Flow Logs");
  await expect(card.locator(".msg")).toContainText("Why:");
  await expect(card.locator(".fix")).toContainText("Reader and Data Access");
  await expect(card.locator("a.docs")).toHaveAttribute("href", /^https:\/\/docs\.prismacloud\.io\//);
  // The fix appears once on the whole page (not again in the outcome or the step).
  const fix = (await card.locator(".fix").textContent()).replace(/^Fix: /, "");
  const body = await page.locator("main").innerText();
  expect(body.split(fix).length - 1).toBe(1);
  // The healthy capabilities are listed without a card.
  await expect(page.locator('#capabilities li[data-status="ok"]')).not.toHaveCount(0);

  // Pre-flight says it failed, and nothing after it ran: nothing was registered.
  await expect(page.locator('li[data-step="preflight"] .state')).toHaveText("failed");
  await expect(page.locator('li[data-step="register"] .state')).toHaveText("pending");
  await expect(page.locator('li[data-step="verify"] .state')).toHaveText("pending");
  await expect(page.locator("#outcome")).toContainText("nothing was registered");
  await expect(page.locator("#calls")).not.toContainText("/cas/v1/azure_account");
  await shot(page, "failing-job");

  // After a reload (the server's rendering): the same single card.
  await page.reload();
  await finished(page);
  await expect(page.locator("#capabilities li.failure")).toHaveCount(1);

  // Edit and retry: the wizard, filled from the job.
  await page.getByRole("link", { name: "Edit and retry" }).click();
  await expect(page).toHaveURL(/\/onboard\?from=[0-9a-f-]{36}$/);
  await expect(page.locator("#from-job")).toContainText("Filled from");
  await expect(page.getByLabel("Tenant id")).toHaveValue(TENANT);
  await expect(page.getByLabel("Subscription id")).toHaveValue(BROKEN);
  await expect(page.getByLabel("Account name in Prisma Cloud")).toHaveValue("e2e failing job");
  await expect(page.getByLabel("Ingest flow logs")).toBeChecked();
  await expect(page.getByLabel("Remediation")).toBeChecked();
  await expect(page.getByLabel("Stop after the Terraform plan so I can review it")).not.toBeChecked();
  await shot(page, "edit-and-retry");
  // Remove the marker (the fix on the Azure side), start again: a new job, green.
  await page.getByLabel("Subscription id").fill(HEALTHY);
  await page.getByRole("button", { name: "Start onboarding" }).click();
  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]{36}$/);
  expect(page.url()).not.toBe(failedUrl);
  await finished(page);
  await expect(page.locator("#job-state")).toContainText("succeeded");
  await expect(page.locator("#capabilities li.failure")).toHaveCount(0);
  await expect(page.locator('li[data-step="preflight"] .state')).toHaveText("succeeded");
  await expect(page.locator("#what")).toContainText(HEALTHY);
  await expect(page.locator("#outcome")).toContainText("Onboarded");
  await shot(page, "retried-job");
});

test("register anyway: the pre-flight shows a warning, the account is registered, verify reports it", async ({ page }) => {
  await signIn(page);
  await page.goto(base() + "/onboard");
  await page.getByLabel("Tenant id").fill(TENANT);
  await page.getByLabel("Subscription id").fill("0000f10e-13b1-4222-8333-444444444444");
  await page.getByLabel("Account name in Prisma Cloud").fill("e2e register anyway");
  await page.getByLabel("Ingest flow logs").check();
  await page.getByLabel("Stop after the Terraform plan so I can review it").uncheck();
  await page.getByLabel("Register even if the pre-flight checks fail").check();
  await page.getByRole("button", { name: "Start onboarding" }).click();
  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]{36}$/);
  await finished(page);
  await expect(page.locator('li[data-step="preflight"] .state')).toHaveText("warning");
  await expect(page.locator('li[data-step="register"] .state')).toHaveText("succeeded");
  await expect(page.locator('li[data-step="verify"] .state')).toHaveText("failed");
  await expect(page.locator("#what")).toContainText("register anyway");
  await expect(page.locator("#capabilities li.failure")).toHaveCount(1);
});

test("the plan review groups the changes in words; after approval the early steps stay succeeded", async ({ page }) => {
  await signIn(page);
  await page.goto(base() + "/onboard");
  await page.getByLabel("Tenant id").fill(TENANT);
  const sub = "13b00000-13b2-4222-8333-444444444444";
  await page.getByLabel("Subscription id").fill(sub);
  await page.getByLabel("Account name in Prisma Cloud").fill("e2e plan in words");
  await page.getByLabel("Ingest flow logs").check();
  await expect(page.getByLabel("Stop after the Terraform plan so I can review it")).toBeChecked();
  await page.getByRole("button", { name: "Start onboarding" }).click();
  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]{36}$/);
  await expect(page.locator("#job-state")).toContainText("awaiting approval", { timeout: 45_000 });
  const review = page.locator("#review");
  await expect(review).toBeVisible();
  // Live: the words arrive with the plan, without a reload.
  await expect(review.getByRole("heading", { name: "Azure identity" })).toBeVisible();
  await expect(review.getByRole("heading", { name: "Azure roles" })).toBeVisible();
  await expect(review).toContainText("App registration for Prisma Cloud");
  await expect(review).toContainText(`Reader on subscription ${sub}`);
  await expect(review).toContainText(`Reader and Data Access on subscription ${sub}`);
  // The raw addresses are behind a toggle.
  const addresses = page.locator("#plan-addresses");
  await expect(addresses.locator("ul")).toBeHidden();
  await addresses.locator("summary").click();
  await expect(addresses.locator("ul")).toBeVisible();
  await expect(addresses).toContainText(/azurerm_role_assignment/);
  await shot(page, "plan-in-words");
  // After a reload too (the server's rendering).
  await page.reload();
  await expect(review).toContainText(`Reader on subscription ${sub}`);

  await page.getByRole("button", { name: "Approve and apply" }).click();
  await finished(page);
  await expect(page.locator("#job-state")).toContainText("succeeded");
  // Done before the approval in this same job: succeeded, never "skipped".
  for (const s of ["validate", "prerequisites", "resolve"]) {
    await expect(page.locator(`li[data-step="${s}"] .state`)).toHaveText("succeeded");
  }
  await expect(page.locator("#steps")).not.toContainText("skipped");
  await expect(page.locator("#steps")).not.toContainText("earlier attempt");
});
