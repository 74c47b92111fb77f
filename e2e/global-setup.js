// Starts `azure-cortex serve --sandbox` on a free port with a fresh data directory, reads the
// URL and the generated admin password from its stdout, adds a viewer and an operator with the
// CLI (`users add`), and stops the server after the run.
const { spawn, spawnSync } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const os = require("os");
const path = require("path");

const ROOT = path.join(__dirname, "..");

module.exports = async function globalSetup() {
  const bin = process.env.AZURE_CORTEX_BIN || path.join(ROOT, "target", "debug", "azure-cortex");
  if (!fs.existsSync(bin)) {
    throw new Error(`${bin} is missing: build it first (cargo build -p azure-cortex) or run scripts/e2e`);
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cortex-e2e-"));
  const server = spawn(bin, ["serve", "--sandbox", "--listen", "127.0.0.1:0", "--data-dir", dataDir], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let out = "";
  let err = "";
  server.stderr.on("data", (d) => { err += d; });
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start in 60 s:\n${out}\n${err}`)), 60_000);
    server.on("exit", (code) => reject(new Error(`the server exited (${code}):\n${out}\n${err}`)));
    server.stdout.on("data", (d) => {
      out += d;
      const url = out.match(/Listening on (https?:\/\/[^\s]+)/);
      const password = out.match(/password:\s+(\S+)/);
      if (url && password) {
        clearTimeout(timer);
        resolve({ url: url[1], password: password[1] });
      }
    });
  });
  const { url, password } = await ready;
  process.env.CORTEX_URL = url;
  process.env.CORTEX_ADMIN_PASSWORD = password;
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
  return async () => {
    server.kill("SIGTERM");
    await new Promise((resolve) => {
      const t = setTimeout(() => { server.kill("SIGKILL"); resolve(); }, 10_000);
      server.on("exit", () => { clearTimeout(t); resolve(); });
    });
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
};
