// What the browser specs share: the server's URL, screenshots, signing in as the sandbox admin.
const { expect } = require("@playwright/test");
const path = require("path");

const SHOTS = path.join(__dirname, "..", "target", "e2e-screenshots");
const base = () => process.env.CORTEX_URL;
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
// The sandbox tenant the specs onboard into.
const TENANT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

async function signIn(page) {
  await page.goto(base() + "/login");
  await page.getByLabel("Name").fill("admin");
  await page.getByLabel("Password").fill(process.env.CORTEX_ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
}

module.exports = { base, shot, signIn, TENANT };
