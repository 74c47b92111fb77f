// Cortex Cloud connections on the connections page, in sandbox mode: the built-in
// `cortex-sandbox` is listed beside `default`; a Cortex Cloud connection is added through its
// own form (a bad key id refused by name, the values kept and the key never echoed), shown with
// its platform, key id and key type, and deleted. Screenshots go to target/e2e-screenshots/.
const { test, expect } = require("@playwright/test");
const { base, shot, signIn } = require("../support");

test("cortex connections: built in beside default, added through its form, never shown", async ({ page }) => {
  const KEY = "e2e-cortex-key-canary-0123456789abcdef";
  await signIn(page);
  await page.goto(base() + "/connections");
  await expect(page.getByRole("heading", { name: "Platform connections" })).toBeVisible();
  const builtIn = page.locator("tr", { has: page.locator("th", { hasText: /^cortex-sandbox$/ }) });
  await expect(builtIn).toContainText("Cortex Cloud");
  await expect(builtIn).toContainText("(advanced)");

  const form = page.locator("#cortex-connection-form");
  await form.getByLabel("Connection name").fill("e2e-cortex");
  await form.getByLabel("API URL").fill("https://acme.xdr.us.paloaltonetworks.com");
  await form.getByLabel("API key ID").fill("not-a-number");
  await form.getByLabel("API key", { exact: true }).fill(KEY);
  await form.getByLabel("Key type").selectOption("standard");
  await page.getByRole("button", { name: "Save Cortex Cloud connection" }).click();
  await expect(page.getByRole("alert")).toContainText("key_id");
  await expect(form.getByLabel("Connection name")).toHaveValue("e2e-cortex");
  await expect(form.getByLabel("Key type")).toHaveValue("standard");
  await expect(form.getByLabel("API key", { exact: true })).toHaveValue("");
  expect(await page.content()).not.toContain(KEY);

  await form.getByLabel("API key ID").fill("42");
  await form.getByLabel("API key", { exact: true }).fill(KEY);
  await page.getByRole("button", { name: "Save Cortex Cloud connection" }).click();
  const row = page.locator("tr", { has: page.locator("th", { hasText: /^e2e-cortex$/ }) });
  await expect(row).toContainText("Cortex Cloud");
  await expect(row).toContainText("https://api-acme.xdr.us.paloaltonetworks.com");
  await expect(row).toContainText("42 (standard)");
  await expect(row).toContainText("stored encrypted");
  expect(await page.content()).not.toContain(KEY);
  await shot(page, "cortex-connections");
  await page.getByRole("button", { name: "Delete connection e2e-cortex" }).click();
  await expect(page.locator("th", { hasText: /^e2e-cortex$/ })).toHaveCount(0);
});
