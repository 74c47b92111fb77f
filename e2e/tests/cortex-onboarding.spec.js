// Onboarding into Cortex Cloud from the browser, on the sandbox server. The Cortex Cloud tenant
// is `azure-cortex emulator` run by this spec (its Cortex face prints a demo key), added as a
// connection through the Connections page and tried with *Test connection*. A tenant is
// onboarded from the wizard: the job stops at the template's plan, is approved, and the job page
// shows the template's callback arrive and every capability turn connected (the section and the
// capabilities live, over the job's event stream). A subscription whose marker makes Agentless
// Disk Scanning end in a warning shows Cortex's text for it. axe and 390 px on the job page's
// Cortex state. Screenshots go to target/e2e-screenshots/.
const { test, expect } = require("@playwright/test");
const { spawn } = require("child_process");
const path = require("path");
const { base, checkPage, shot, signIn } = require("../support");

// The emulator's approved tenant, a hosting subscription no scenario matches, and one whose
// marker (0000ad50) ends Agentless Disk Scanning in a warning (docs/emulator.md).
const TENANT = "0091a7ea-5021-42d3-a276-18004980b42b";
const HOSTING = "8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f";
const WARNING_SUB = "0000ad50-7777-4888-9999-aaaaaaaaaaaa";
const CONNECTION = "e2e-cortex-lab";

let emulator;
let cortex;

// `azure-cortex emulator` on a free port; its banner names the Cortex Cloud URL and demo key.
// Its capabilities report within 2.5 s of the callback (the sandbox engine waits 5 s).
test.beforeAll(async () => {
  const bin = process.env.AZURE_CORTEX_BIN || path.join(__dirname, "..", "..", "target", "debug", "azure-cortex");
  emulator = spawn(bin, ["emulator", "--listen", "127.0.0.1:0", "--read-delay-ms", "0",
    "--cortex-capability-delay-ms", "2500"], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  let out = "";
  cortex = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the emulator did not start:\n${out}`)), 30_000);
    emulator.on("exit", (code) => reject(new Error(`the emulator exited (${code}):\n${out}`)));
    emulator.stdout.on("data", (d) => {
      out += d;
      const get = (name) => (out.match(new RegExp(`${name}=(\\S+)`)) || [])[1];
      if (out.includes("Press Ctrl-C to stop.")) {
        clearTimeout(timer);
        resolve({ url: get("CORTEXCLOUD_API_URL"), id: get("CORTEXCLOUD_API_KEY_ID"),
          key: get("CORTEXCLOUD_API_KEY"), type: get("CORTEXCLOUD_API_KEY_TYPE") });
      }
    });
  });
});

test.afterAll(() => { if (emulator) emulator.kill("SIGTERM"); });

// Every capability status each capability showed on the page, in order (job.js updates the
// entries as the stream replays and follows the job), kept across page loads of the tab.
async function recordCapabilities(page) {
  await page.addInitScript(() => {
    const seen = JSON.parse(sessionStorage.getItem("capSeen") || "{}");
    const note = (li) => {
      const name = li.dataset.capability;
      const status = li.dataset.status;
      if (!name || !status) return;
      const list = seen[name] || (seen[name] = []);
      if (list[list.length - 1] !== status) list.push(status);
      sessionStorage.setItem("capSeen", JSON.stringify(seen));
    };
    new MutationObserver((changes) => {
      for (const c of changes) {
        const t = c.target;
        if (t.nodeType === 1 && t.matches && t.matches("li[data-capability]")) note(t);
        for (const n of c.addedNodes || []) if (n.nodeType === 1 && n.matches("li[data-capability]")) note(n);
      }
    }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"] });
  });
}

async function startWizard(page, scope, subscription, approval) {
  await page.goto(base() + "/onboard?connection=" + CONNECTION);
  await expect(page.getByRole("heading", { name: "New onboarding into Cortex Cloud" })).toBeVisible();
  await page.getByLabel("Cortex Cloud connection").selectOption(CONNECTION);
  await page.locator(`#scope-${scope}`).check();
  await page.getByLabel("Tenant id (Entra ID directory)").fill(TENANT);
  await page.getByLabel("Subscription id", { exact: true }).fill(subscription);
  await page.getByLabel("Stop after the Terraform plan so I can review it").setChecked(approval);
  await page.getByRole("button", { name: "Start onboarding into Cortex Cloud" }).click();
  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]{36}$/);
  await expect(page.getByRole("heading", { name: /into Cortex Cloud/ })).toBeVisible();
}

test("cortex onboarding: connection tested, tenant onboarded from the wizard, plan approved, callback and capabilities live", async ({ page }) => {
  test.setTimeout(150_000);
  await recordCapabilities(page);
  await signIn(page);

  // The emulator's Cortex face as a connection, tried for real.
  await page.goto(base() + "/connections");
  const form = page.locator("#cortex-connection-form");
  await form.getByLabel("Connection name").fill(CONNECTION);
  await form.getByLabel("API URL").fill(cortex.url);
  await form.getByLabel("API key ID").fill(cortex.id);
  await form.getByLabel("API key", { exact: true }).fill(cortex.key);
  await form.getByLabel("Key type").selectOption(cortex.type);
  await page.getByRole("button", { name: "Save Cortex Cloud connection" }).click();
  const row = page.locator("tr", { has: page.locator("th", { hasText: new RegExp(`^${CONNECTION}$`) }) });
  await expect(row).toContainText("Cortex Cloud");
  await row.getByRole("button", { name: `Test connection ${CONNECTION}` }).click();
  const tested = page.locator("#test-result");
  await expect(tested).toContainText(CONNECTION);
  await expect(tested).toHaveClass(/\bok\b/);
  await expect(tested).toContainText(TENANT);
  expect(await page.content()).not.toContain(cortex.key);

  // A tenant from the wizard; the job stops at the template's plan.
  await startWizard(page, "tenant", HOSTING, true);
  const jobUrl = page.url();
  const section = page.locator("#cortex");
  await expect(page.getByRole("heading", { name: "Review the Terraform plan" })).toBeVisible();
  await expect(page.locator('li[data-step="apply_template"] .state')).toHaveText("awaiting approval");
  await expect(section.locator("#cortex-instance")).toContainText("pending");
  await expect(section.locator("#cortex-template")).toContainText("checked on download");
  await expect(section).toHaveAttribute("data-callback", "not_started");
  await shot(page, "cortex-job-review");

  await page.getByRole("button", { name: "Approve and apply" }).click();
  await expect(page).toHaveURL(jobUrl);
  // The callback arrives and the section follows it without a reload.
  await expect(page.locator("#cortex")).toHaveAttribute("data-callback", "received", { timeout: 45_000 });
  await expect(page.locator("#job-state")).toContainText("succeeded", { timeout: 45_000 });
  await expect(page.locator("#outcome")).toContainText("Onboarded: instance");
  await expect(page.locator("#cortex #cortex-accounts tbody tr").first()).toBeVisible();
  const caps = page.locator("#capabilities li[data-capability]");
  await expect(caps).toHaveCount(8);
  for (const name of ["PERMISSIONS", "DISCOVERY", "ADS", "DSPM", "AUDIT_LOGS", "REGISTRY", "SERVERLESS", "IDENTITY_SECURITY"]) {
    await expect(page.locator(`#capabilities li[data-capability="${name}"]`)).toHaveAttribute("data-status", "connected");
  }
  // They were retrieving first and turned connected on the page.
  const seen = await page.evaluate(() => JSON.parse(sessionStorage.getItem("capSeen") || "{}"));
  expect(seen.ADS, JSON.stringify(seen)).toEqual(["retrieving", "connected"]);
  const instance = page.locator("#cortex-instance a");
  await expect(instance).toHaveAttribute("href", new RegExp(`^/instances/[0-9a-f]{32}\\?connection=${CONNECTION}$`));
  await expect(page.locator("#cortex-instance")).toContainText("connected");
  await expect(page.locator("#cortex-callback")).toContainText("received");
  // The signed template link and callback URL are credentials: never on the page.
  const html = await page.content();
  expect(html).not.toContain("/_cortex/templates/");
  expect(html).not.toContain("/_cortex/upload/");
  expect(html).not.toContain(cortex.key);
  await checkPage(page, "cortex-job");

  // The instance page the section links to.
  await instance.click();
  await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
  await expect(page.locator("main")).toContainText("Identity Security");

  // A warning keeps Cortex Cloud's text, with the fix.
  await startWizard(page, "subscription", WARNING_SUB, false);
  const ads = page.locator('#capabilities li[data-capability="ADS"]');
  await expect(ads).toHaveAttribute("data-status", "warning", { timeout: 45_000 });
  await expect(ads).toContainText("Why: Agentless Disk Scanning: 2 virtual machines could not be scanned");
  await expect(ads).toContainText("Fix: ");
  await expect(ads.getByRole("link", { name: "Cortex Cloud docs for ADS" })).toBeVisible();
  await expect(page.locator("#job-state")).toContainText("succeeded", { timeout: 45_000 });
  await expect(page.locator("#cortex-instance")).toContainText("warning");
  await checkPage(page, "cortex-job-warning");
});
