// What the browser specs share: the server's URL, screenshots, signing in as the sandbox admin.
const { expect } = require("@playwright/test");
const { AxeBuilder } = require("@axe-core/playwright");
const path = require("path");

const SHOTS = path.join(__dirname, "..", "target", "e2e-screenshots");
const base = () => process.env.CORTEX_URL;
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
// The sandbox tenant the specs onboard into.
const TENANT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

const WIDTHS = [[1280, 800], [390, 844]];

/// The checks of one page state at both widths (soft: every problem of a page is reported).
async function checkPage(page, name) {
  for (const [width, height] of WIDTHS) {
    await page.setViewportSize({ width, height });
    const overflow = await page.evaluate(() => {
      const doc = document.documentElement;
      // The innermost elements that stick out, to name them in the failure.
      const clipped = (e) => {
        for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
          if (getComputedStyle(p).overflowX !== "visible") return true;
        }
        return false;
      };
      const out = [...document.querySelectorAll("body *")].filter((e) => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && r.right > doc.clientWidth + 1 && !clipped(e);
      }).slice(-5).map((e) => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}.${e.className} (${Math.round(e.getBoundingClientRect().right)} px)`);
      return { scroll: doc.scrollWidth, client: doc.clientWidth, out };
    });
    expect.soft(overflow.scroll, `${name} at ${width} px is ${overflow.scroll} px wide: ${overflow.out.join(", ")}`).toBeLessThanOrEqual(overflow.client);
    const axe = await new AxeBuilder({ page }).analyze();
    const found = axe.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    expect.soft(found, `axe violations on ${name} at ${width} px`).toEqual([]);
    await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: WIDTHS[0][0], height: WIDTHS[0][1] });
}

/// Signs in as the sandbox's admin: of the run's shared server, or of `server` (`{ url,
/// password }` from sandbox.js's startSandbox).
async function signIn(page, server = { url: base(), password: process.env.CORTEX_ADMIN_PASSWORD }) {
  await page.goto(server.url + "/login");
  await page.getByLabel("Name").fill("admin");
  await page.getByLabel("Password").fill(server.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
}

/// Onboards subscription `sub` of the sandbox tenant as `name` through the API, with the signed-in
/// page's session (of the run's shared server, or of `server`), and waits until the job succeeded.
async function onboardViaApi(page, sub, name, server = { url: base() }) {
  const session = await page.request.get(server.url + "/api/v1/auth/session");
  const submitted = await page.request.post(server.url + "/api/v1/jobs", {
    headers: { "x-csrf-token": (await session.json()).csrf_token },
    data: { scope: "subscription", subscription_id: sub, tenant_id: TENANT, name, groups: ["Default Account Group"] },
  });
  expect(submitted.status()).toBe(202);
  const job = (await submitted.json()).id;
  await expect.poll(async () => (await (await page.request.get(server.url + `/api/v1/jobs/${job}`)).json()).state,
    { timeout: 120_000 }).toBe("succeeded");
  return job;
}

module.exports = { base, checkPage, onboardViaApi, shot, signIn, TENANT };
