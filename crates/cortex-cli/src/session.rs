//! What a command talks to: the store in the data directory, the Prisma Cloud client (the real
//! tenant from the environment, or the in-process emulator with `--sandbox`), and the engine
//! over both. Opened once per command and closed with [`Session::close`], which saves the
//! sandbox state.

use std::path::Path;
use std::time::Duration;

use cortex_store::{Keyring, Store};
use onboarding_engine::{Engine, EngineConfig, TerraformMode};
use prisma_client::{ClientConfig, PrismaClient};

use crate::GlobalArgs;
use crate::exit::{CliError, Exit};
use crate::sandbox::Sandbox;

/// Opens (creating if needed) the store of `data_dir`: SQLite in the directory unless `url`
/// names another database; secrets are encrypted under the directory's key file.
pub async fn open_store(data_dir: &Path, url: Option<&str>) -> Result<Store, CliError> {
    let existed = data_dir.exists();
    std::fs::create_dir_all(data_dir).map_err(|e| {
        CliError::new(
            Exit::Usage,
            "data_dir",
            format!("--data-dir {}: {e}", data_dir.display()),
        )
    })?;
    if !existed {
        restrict_dir(data_dir);
    }
    let keyring = Keyring::load_or_create(data_dir)
        .map_err(|e| CliError::failed("key_file", format!("the encryption key: {e}")))?;
    let url = match url {
        Some(u) => u.to_owned(),
        None => format!("sqlite://{}", data_dir.join("azure-cortex.db").display()),
    };
    Store::open(&url, keyring)
        .await
        .map_err(|e| CliError::failed("store", format!("opening the store: {e}")))
}

/// A data directory we create holds job history: it is its owner's only.
#[cfg(unix)]
fn restrict_dir(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}

#[cfg(not(unix))]
fn restrict_dir(_: &Path) {}

/// The Prisma side of a command: the emulator (sandbox) or the environment's tenant.
pub struct Prisma {
    pub config: ClientConfig,
    pub sandbox: Option<Sandbox>,
}

impl Prisma {
    pub async fn connect(global: &GlobalArgs) -> Result<Self, CliError> {
        if global.sandbox {
            let sandbox = Sandbox::start(&global.data_dir, global.sandbox_faults).await?;
            Ok(Self {
                config: sandbox.client_config(),
                sandbox: Some(sandbox),
            })
        } else {
            let config = ClientConfig::from_env().map_err(|e| {
                CliError::new(
                    Exit::Usage,
                    "config",
                    format!(
                        "Prisma Cloud connection: {e} (set PRISMA_API_URL, PRISMA_ACCESS_KEY_ID, \
                         PRISMA_SECRET_KEY — or try --sandbox)"
                    ),
                )
            })?;
            Ok(Self {
                config,
                sandbox: None,
            })
        }
    }

    pub fn client(&self) -> Result<PrismaClient, CliError> {
        PrismaClient::new(self.config.clone()).map_err(CliError::from)
    }

    /// [`engine_config`], with the sandbox's built-in Cortex Cloud connection when there is one.
    pub fn engine_config(&self, global: &GlobalArgs) -> EngineConfig {
        let mut config = engine_config(global);
        config.cortex_sandbox = self.sandbox.as_ref().map(Sandbox::cortex_connection);
        config
    }

    /// Saves the sandbox state and stops the emulator.
    pub async fn close(self) -> Result<(), CliError> {
        match self.sandbox {
            Some(s) => s.finish().await,
            None => Ok(()),
        }
    }
}

/// The engine configuration for this invocation.
pub fn engine_config(global: &GlobalArgs) -> EngineConfig {
    let mode = if global.sandbox {
        match (TerraformMode::sandbox(), global.sandbox_step_secs) {
            (TerraformMode::Twin { binary, .. }, Some(step_seconds)) => TerraformMode::Twin {
                binary,
                step_seconds,
            },
            (mode, _) => mode,
        }
    } else {
        TerraformMode::real(None)
    };
    let mut config = EngineConfig::new(global.data_dir.clone(), mode);
    config.sandbox = global.sandbox;
    if global.sandbox {
        config.verify_timeout = Duration::from_secs(5);
    }
    config
}

/// Store, Prisma and engine, for the commands that run or inspect jobs.
pub struct Session {
    pub engine: Engine,
    prisma: Prisma,
}

impl Session {
    pub async fn open(global: &GlobalArgs) -> Result<Self, CliError> {
        // Prisma first: a missing configuration should not leave a new data directory behind.
        let prisma = Prisma::connect(global).await?;
        let store = open_store(&global.data_dir, global.database_url.as_deref()).await?;
        let engine = Engine::new(store, prisma.config.clone(), prisma.engine_config(global))?;
        Ok(Self { engine, prisma })
    }

    pub fn store(&self) -> &Store {
        self.engine.store()
    }

    /// Saves the sandbox state, stops the emulator, closes the store.
    pub async fn close(self) -> Result<(), CliError> {
        let saved = self.prisma.close().await;
        self.engine.store().close().await;
        saved
    }

    /// Closes the session after a command, whatever its result; the command's error wins.
    pub async fn finish(self, result: Result<Exit, CliError>) -> Result<Exit, CliError> {
        let closed = self.close().await;
        let exit = result?;
        closed?;
        Ok(exit)
    }
}
