// Starts `azure-cortex serve --sandbox` on a free port with a fresh data directory, reads the
// URL and the generated admin password from its stdout, and stops it after the run.
const { spawn } = require("child_process");
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
