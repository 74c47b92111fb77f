// Starts `azure-cortex serve --sandbox` on a free port with a fresh data directory (sandbox.js),
// adds a viewer and an operator with the CLI (`users add`), and stops the server after the run.
const { spawnSync } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const { ROOT, startSandbox } = require("./sandbox");

module.exports = async function globalSetup() {
  const server = await startSandbox();
  const { dataDir, bin } = server;
  process.env.CORTEX_URL = server.url;
  process.env.CORTEX_ADMIN_PASSWORD = server.password;
  // A viewer and an operator, made with the CLI as an administrator would (the password from
  // the environment, never the command line), for the role-filtered pages.
  for (const [name, role] of [["e2e-viewer", "viewer"], ["e2e-operator", "operator"]]) {
    const userPassword = `${name}-${crypto.randomBytes(12).toString("hex")}`;
    const r = spawnSync(bin, ["users", "add", name, "--role", role, "--data-dir", dataDir], {
      env: { ...process.env, NO_COLOR: "1", AZURE_CORTEX_PASSWORD: userPassword },
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`users add ${name} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
    process.env[`CORTEX_${role.toUpperCase()}_PASSWORD`] = userPassword;
  }
  fs.mkdirSync(path.join(ROOT, "target", "e2e-screenshots"), { recursive: true });
  return server.stop;
};
