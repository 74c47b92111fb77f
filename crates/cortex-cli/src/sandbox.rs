//! `--sandbox`: the Prisma Cloud API emulator in this process, standing in for a tenant.
//!
//! The emulator listens on `127.0.0.1:0` with an access key and secret generated for this
//! process (never written anywhere); its `/_emulator/*` admin endpoints need a random token
//! nobody is given, so other local users cannot reach them. Its accounts and groups persist in
//! `<data-dir>/sandbox-emulator.json` (written without any client secret by
//! [`prisma_emulator::snapshot`]), written through: every write the emulator answers is on
//! disk first, so a `kill -9` of `serve --sandbox` or the CLI loses nothing a job saw
//! succeed, and `accounts list` shows what an earlier `onboard` created.
//! Two sandbox commands running at once on one data directory each have their own emulator;
//! each saves its own view, the last write wins.
//!
//! The same emulator process serves Cortex Cloud beside Prisma Cloud: the sandbox generates a
//! Cortex API key too (an advanced one, as the official SDK defaults to) and the engine gets it
//! as the built-in connection `cortex-sandbox` ([`Sandbox::cortex_connection`]).
//!
//! `serve --sandbox` hands its emulator's runtime controls (`/_emulator/*`: fail or recover a
//! capability, age a client secret, advance the clock — `docs/emulator.md` §8.5) to whoever
//! may read the data directory, and to no one else: [`Sandbox::write_admin_file`] writes the
//! emulator's URL, admin token and generated Prisma Cloud key (to change an account as someone
//! in the console would) to `<data-dir>/sandbox-emulator-admin.json`, created with
//! mode 0600 (owner only, like the master key beside it), rewritten at each start (the token is
//! new per process) and removed when the sandbox stops. The token and key open only this
//! process's emulator; they are never printed or logged.

use std::path::{Path, PathBuf};
use std::time::Duration;

use onboarding_engine::connections::{ApiKey, ApiUrl, CortexConnection, KeyId, KeyType};
use prisma_client::{BaseUrl, ClientConfig, Credentials};
use prisma_emulator::{EmulatorConfig, Faults, RunningEmulator};
use prisma_types::SecretString;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::exit::CliError;

/// The snapshot's file name inside the data directory.
pub const SNAPSHOT_FILE: &str = "sandbox-emulator.json";
/// The emulator controls' file (URL and admin token) inside the data directory.
pub const ADMIN_FILE: &str = "sandbox-emulator-admin.json";

/// From the template's callback until the last chosen capability reports (the engine's
/// sandbox verify window is 5 s).
pub const SANDBOX_CAPABILITY_DELAY: Duration = Duration::from_secs(2);

/// Injected faults for the sandbox (hidden `--sandbox-faults`, for tests and demos).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SandboxFaults {
    /// No injected faults.
    #[default]
    None,
    /// The soak mix: 10% 429, 3% 503, 1% connection resets, 1% commit-then-drop.
    Mix,
}

/// A running in-process emulator and the client configuration that reaches it.
pub struct Sandbox {
    emulator: RunningEmulator,
    stop: CancellationToken,
    snapshot: PathBuf,
    client: ClientConfig,
    cortex: CortexConnection,
    /// No saved state was found: this is the data directory's first sandbox start.
    fresh: bool,
    /// The token `/_emulator/*` requires.
    admin_token: SecretString,
    /// Where [`Sandbox::write_admin_file`] wrote it (removed by [`Sandbox::finish`]).
    admin_file: std::sync::Mutex<Option<PathBuf>>,
}

fn random_token(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(b"abcdefghijkmnpqrstuvwxyz23456789"[rng.random_range(0..32)]))
        .collect()
}

impl Sandbox {
    /// Starts the emulator and restores the accounts and groups saved in `data_dir`.
    pub async fn start(data_dir: &Path, faults: SandboxFaults) -> Result<Self, CliError> {
        let key_id = format!("sandbox-{}", random_token(10));
        let secret = SecretString::from(random_token(32));
        let mut config = EmulatorConfig::new(key_id.clone(), secret.clone());
        config.read_delay = Duration::from_millis(200);
        // The listener is plain http on loopback: the Cortex face's template and callback
        // links take their scheme from the issuer.
        config.issuer = "http://127.0.0.1".into();
        let admin_token = SecretString::from(random_token(40));
        config.admin_token = Some(admin_token.clone());
        if faults == SandboxFaults::Mix {
            config.faults = Faults::soak_mix();
        }
        let sandbox_error = |e: cortex_cloud_types::ValidationError| {
            CliError::failed("sandbox", format!("Cortex key {}: {}", e.field, e.message))
        };
        // The emulator's Cortex face accepts exactly the key the engine's `cortex-sandbox`
        // connection holds.
        let cortex_key = ApiKey::new(
            KeyId::new(rand::rng().random_range(1..10_000u64)).map_err(sandbox_error)?,
            SecretString::from(random_token(64)),
            KeyType::Advanced,
        )
        .map_err(sandbox_error)?;
        config.cortex = prisma_emulator::cortex::CortexConfig::new(
            cortex_key.id,
            cortex_key.key.clone(),
            cortex_key.kind,
        );
        // Capabilities turn connected one by one within the sandbox's verify window, slowly
        // enough for a person to watch them.
        config.cortex.capability_delay = SANDBOX_CAPABILITY_DELAY;
        let stop = CancellationToken::new();
        let emulator = prisma_emulator::spawn(
            "127.0.0.1:0".parse().expect("static address"),
            config,
            None,
            stop.clone().cancelled_owned(),
        )
        .await
        .map_err(|e| CliError::failed("sandbox", format!("cannot start the emulator: {e}")))?;
        let snapshot = data_dir.join(SNAPSHOT_FILE);
        let fresh = match prisma_emulator::snapshot::load(&emulator.state, &snapshot) {
            Ok(loaded) => {
                tracing::debug!(loaded, path = %snapshot.display(), "sandbox snapshot");
                if data_dir.is_dir() {
                    emulator.state.persist_to(snapshot.clone());
                }
                !loaded
            }
            Err(e) => {
                stop.cancel();
                return Err(CliError::failed(
                    "sandbox",
                    format!(
                        "cannot read the sandbox state {}: {e} (move it away to start afresh)",
                        snapshot.display()
                    ),
                ));
            }
        };
        let base_url = BaseUrl::parse(&emulator.base_url(), false)
            .map_err(|e| CliError::failed("sandbox", e.to_string()))?;
        let client = ClientConfig::new(base_url, Credentials::new(key_id, secret));
        let cortex = CortexConnection {
            api_url: ApiUrl::parse(&emulator.base_url()).map_err(sandbox_error)?,
            key: cortex_key,
        };
        tracing::debug!(url = %emulator.base_url(), "sandbox emulator listening");
        Ok(Self {
            emulator,
            stop,
            snapshot,
            client,
            cortex,
            fresh,
            admin_token,
            admin_file: std::sync::Mutex::new(None),
        })
    }

    /// Writes `{"url", "token", "access_key_id", "secret_key"}` of this emulator to
    /// `<data_dir>/sandbox-emulator-admin.json`, owner-only (0600) from its creation; returns
    /// the path. See the module docs.
    pub fn write_admin_file(&self, data_dir: &Path) -> Result<PathBuf, CliError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = data_dir.join(ADMIN_FILE);
        let failed = |e: std::io::Error| {
            CliError::failed("sandbox", format!("cannot write {}: {e}", path.display()))
        };
        // A file left by an earlier process holds a dead token; created afresh, so the mode
        // applies (an existing file would keep its own).
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed(e)),
        }
        let body = serde_json::json!({
            "url": self.emulator.base_url(),
            "token": self.admin_token.expose(),
            // Its Prisma Cloud key, to change an account "in the console" (drift).
            "access_key_id": self.client.credentials.access_key_id,
            "secret_key": self.client.credentials.secret_key.expose(),
        });
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(failed)?;
        file.write_all(body.to_string().as_bytes())
            .map_err(failed)?;
        *self.admin_file.lock().unwrap_or_else(|p| p.into_inner()) = Some(path.clone());
        Ok(path)
    }

    /// On the data directory's first start only: some subscriptions of the seeded Azure tenant
    /// are already onboarded ([`prisma_emulator::seed`]), so the Coverage page shows a mix;
    /// saved at once. Returns how many accounts were planted.
    pub fn plant_seed(&self) -> Result<usize, CliError> {
        if !self.fresh {
            return Ok(0);
        }
        let planted = prisma_emulator::seed::plant(&self.emulator.state);
        prisma_emulator::snapshot::persist(&self.emulator.state).map_err(|e| {
            CliError::failed(
                "sandbox",
                format!(
                    "cannot save the sandbox state {}: {e}",
                    self.snapshot.display()
                ),
            )
        })?;
        Ok(planted)
    }

    /// The client configuration for this emulator (its generated key included).
    pub fn client_config(&self) -> ClientConfig {
        self.client.clone()
    }

    pub fn base_url(&self) -> String {
        self.emulator.base_url()
    }

    /// The built-in Cortex Cloud connection `cortex-sandbox`: this emulator and its generated
    /// Cortex key.
    pub fn cortex_connection(&self) -> CortexConnection {
        self.cortex.clone()
    }

    /// Writes the accounts and groups back to the data directory (if it exists) and stops the
    /// emulator.
    pub async fn finish(self) -> Result<(), CliError> {
        if let Some(path) = self
            .admin_file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = std::fs::remove_file(path);
        }
        let saved = match self.snapshot.parent() {
            Some(dir) if dir.is_dir() => {
                prisma_emulator::snapshot::save(&self.emulator.state, &self.snapshot).map_err(|e| {
                    CliError::failed(
                        "sandbox",
                        format!(
                            "cannot save the sandbox state {}: {e}",
                            self.snapshot.display()
                        ),
                    )
                })
            }
            _ => Ok(()),
        };
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.emulator.task).await;
        saved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sandbox emulator listens on loopback, where any local user could reach it: its
    /// admin endpoints still refuse requests without the token nobody is given, while the
    /// Prisma API answers as usual. Its writes land in the data directory at once.
    #[tokio::test]
    async fn admin_endpoints_need_a_token_and_writes_are_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::start(dir.path(), SandboxFaults::None)
            .await
            .unwrap();
        let http = reqwest::Client::new();
        let base = sandbox.base_url();
        for path in ["/_emulator/stats", "/_emulator/faults"] {
            let r = http.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(r.status(), 401, "{path}");
            let r = http
                .get(format!("{base}{path}"))
                .bearer_auth("guessed")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{path} with a wrong token");
        }
        let r = http
            .put(format!("{base}/_emulator/faults"))
            .json(&serde_json::json!({"p_500": 1.0}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "faults cannot be injected");

        let client = prisma_client::PrismaClient::new(sandbox.client_config()).unwrap();
        let group = client.create_account_group("written-through", "").await;
        assert!(group.is_ok(), "{group:?}");
        let saved = std::fs::read_to_string(dir.path().join(SNAPSHOT_FILE)).unwrap();
        assert!(saved.contains("written-through"), "saved before the answer");
        drop(client);
        sandbox.finish().await.unwrap();
    }

    /// The controls' file is the owner's alone, its token opens the emulator's controls, a
    /// stale file is replaced (never reused with its mode), and the file goes with the process.
    #[tokio::test]
    async fn the_admin_file_is_owner_only_works_and_is_removed_at_the_end() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(ADMIN_FILE);
        std::fs::write(&stale, "{}").unwrap();
        std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o644)).unwrap();
        let sandbox = Sandbox::start(dir.path(), SandboxFaults::None)
            .await
            .unwrap();
        let path = sandbox.write_admin_file(dir.path()).unwrap();
        assert_eq!(path, stale);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let seam: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(seam["url"], sandbox.base_url());
        let r = reqwest::Client::new()
            .get(format!("{}/_emulator/clock", seam["url"].as_str().unwrap()))
            .bearer_auth(seam["token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let client = sandbox.client_config();
        assert_eq!(seam["access_key_id"], client.credentials.access_key_id);
        assert_eq!(seam["secret_key"], client.credentials.secret_key.expose());
        sandbox.finish().await.unwrap();
        assert!(!path.exists(), "removed when the sandbox stops");
    }
}
