// Starting `azure-cortex serve --sandbox` on a free port with a fresh data directory: the URL and
// the generated admin password read from its stdout. global-setup.js starts the run's shared
// server with it; a spec that needs its own (lifecycle.spec.js: a short health-watch round)
// starts one more with extra flags.
const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

const ROOT = path.join(__dirname, "..");
const BIN = process.env.AZURE_CORTEX_BIN || path.join(ROOT, "target", "debug", "azure-cortex");

/// Starts a sandbox server; `{ url, password, dataDir, stop() }` once it listens.
async function startSandbox(extraArgs = []) {
  if (!fs.existsSync(BIN)) {
    throw new Error(`${BIN} is missing: build it first (cargo build -p azure-cortex) or run scripts/e2e`);
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cortex-e2e-"));
  const server = spawn(BIN, ["serve", "--sandbox", "--listen", "127.0.0.1:0", "--data-dir", dataDir, ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let out = "";
  let err = "";
  server.stderr.on("data", (d) => { err += d; });
  const { url, password } = await new Promise((resolve, reject) => {
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
  const stop = async () => {
    server.kill("SIGTERM");
    await new Promise((resolve) => {
      if (server.exitCode !== null) return resolve();
      const t = setTimeout(() => { server.kill("SIGKILL"); resolve(); }, 10_000);
      server.on("exit", () => { clearTimeout(t); resolve(); });
    });
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  return { url, password, dataDir, bin: BIN, stop };
}

/// The sandbox emulator's controls (`docs/emulator.md` 8.5): `{ url, token, access_key_id,
/// secret_key }` from the owner-only file `serve --sandbox` writes into its data directory.
function emulatorControls(dataDir) {
  return JSON.parse(fs.readFileSync(path.join(dataDir, "sandbox-emulator-admin.json"), "utf8"));
}

module.exports = { ROOT, startSandbox, emulatorControls };
