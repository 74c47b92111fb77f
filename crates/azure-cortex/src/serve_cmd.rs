//! `azure-cortex serve`: the web server of `cortex-web` — the REST API under `/api/v1`, event
//! streams, health and metrics — over the data directory's store, with the engine's worker in
//! this process (unless `--no-worker`), so jobs submitted over the API run.
//!
//! Configuration: [`crate::web_config`] (flag > environment > file). With `--sandbox` Prisma
//! Cloud is the in-process emulator with the data directory's snapshot (written through: a
//! `kill -9` loses nothing; the first start plants accounts for part of the seeded tenant),
//! Azure the Terraform twin, and discovery and the Coverage page read the emulated Azure (its
//! cloud face over the seeded tenant, in this process, signed in as ci-onboarding); on the first start an `admin` is
//! created and its generated password printed once, on stdout, and nowhere else. Without it Prisma Cloud comes from
//! `PRISMA_*` as for every other command.
//!
//! Ctrl-C or SIGTERM: event streams end, open requests finish, the worker hands its running
//! jobs back to the queue, the sandbox state is saved; exit 0. A second one quits at once
//! (exit 4).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::ArgMatches;
use cortex_cli::session::Prisma;
use cortex_cli::{CliError, Exit, GlobalArgs, Out};
use cortex_web::{AppState, GeneratedAdmin, StartError, WebConfig, WebSettings};
use onboarding_engine::Engine;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::web_config::{self, ConfigArgs};

pub const EXAMPLES: &str = "\
Examples:
  azure-cortex serve --sandbox
  azure-cortex serve --sandbox --listen 127.0.0.1:0 --data-dir /tmp/cortex
  azure-cortex serve --config /etc/azure-cortex/web.toml
  azure-cortex serve --listen 0.0.0.0:8443 --tls-cert tls.crt --tls-key tls.key

With --sandbox the first start creates the user `admin` and prints its password once. Otherwise
create users first: AZURE_CORTEX_PASSWORD=… azure-cortex users add NAME --role admin.
Settings: flags > CORTEX_WEB_* variables > the --config file (docs/cli.md).";

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]; port 0 picks a free port (printed).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, value_name = "PATH")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "PATH")]
    pub tls_key: Option<PathBuf>,
    /// Do not run jobs here: queued jobs wait for an `azure-cortex worker`.
    #[arg(long)]
    pub no_worker: bool,
    #[command(flatten)]
    pub watch: crate::watch_args::WatchArgs,
}

impl ServeArgs {
    fn settings(&self) -> WebSettings {
        WebSettings {
            listen: self.listen,
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            worker: self.no_worker.then_some(false),
            ..WebSettings::default()
        }
    }
}

pub async fn run(
    global: &GlobalArgs,
    matches: &ArgMatches,
    args: ServeArgs,
) -> Result<Exit, CliError> {
    let out = global.out();
    let config = web_config::load(
        global,
        matches,
        args.config.file.as_deref(),
        std::env::vars(),
        args.settings(),
    )?;
    // Checked before anything starts: `AppState::open` creates a sandbox's first admin before
    // it loads the certificate, so a bad one found there would lose the only showing of the
    // generated password.
    if let Some(files) = &config.tls {
        cortex_web::tls::acceptor(files).map_err(|m| start_error(StartError::Tls(m)))?;
    }
    let global = web_config::effective_global(global, &config);
    // Registered before anything is printed: a signal right after the URL shows is ours.
    let mut signals = Signals::new()
        .map_err(|e| CliError::failed("signals", format!("cannot watch for Ctrl-C: {e}")))?;
    let stop = CancellationToken::new();
    let watcher = tokio::spawn({
        let stop = stop.clone();
        let quiet = out.quiet;
        async move {
            signals.recv().await;
            if !quiet {
                eprintln!(
                    "shutting down: open requests finish, running jobs go back to the queue \
                     (press Ctrl-C again to quit at once)"
                );
            }
            stop.cancel();
            signals.recv().await;
            std::process::exit(i32::from(Exit::Cancelled.code()));
        }
    });
    let result = async {
        // Prisma first: a missing configuration should not leave a new data directory behind.
        let prisma = Prisma::connect(&global).await?;
        let served = serve(&global, &out, config, &prisma, &args.watch, stop).await;
        let saved = prisma.close().await;
        served?;
        saved
    }
    .await;
    watcher.abort();
    result?;
    out.note("stopped");
    Ok(Exit::Success)
}

async fn serve(
    global: &GlobalArgs,
    out: &Out,
    mut config: WebConfig,
    prisma: &Prisma,
    watch: &crate::watch_args::WatchArgs,
    stop: CancellationToken,
) -> Result<(), CliError> {
    let store = cortex_cli::open_store(&config.data_dir, config.database_url.as_deref()).await?;
    let engine = match Engine::new(
        store.clone(),
        prisma.config.clone(),
        prisma.engine_config(global),
    ) {
        Ok(engine) => engine,
        Err(e) => {
            store.close().await;
            return Err(e.into());
        }
    };
    let result = async {
        // Bound before the users database is opened: the generated password is shown only
        // when the server really starts.
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            CliError::field("listen", format!("cannot listen on {}: {e}", config.listen))
        })?;
        let local = listener
            .local_addr()
            .map_err(|e| CliError::failed("listen", e.to_string()))?;
        // The sandbox demonstrates single sign-on with the emulated Entra ID, unless [oidc]
        // is configured.
        let sso = if config.sandbox && config.oidc.is_none() {
            let url = base_url(local, config.tls.is_some());
            Some(
                crate::sandbox_sso::start(&mut config, &url, stop.clone().cancelled_owned())
                    .await?,
            )
        } else {
            None
        };
        // The sandbox's emulated Azure (the seeded tenant): discovery and the Coverage page
        // read it; its first start has some of the tenant onboarded already.
        let mut emulator_controls = None;
        let azure =
            if config.sandbox {
                if let Some(sandbox) = &prisma.sandbox {
                    sandbox.plant_seed()?;
                    emulator_controls = Some(sandbox.write_admin_file(&config.data_dir)?);
                }
                Some(cortex_cli::azure::AzureTarget::open(true).await.map_err(
                    |(reason, fix)| CliError::failed("azure_sandbox", format!("{reason} ({fix})")),
                )?)
            } else {
                None
            };
        cortex_web::metrics::set_build_info(env!("CARGO_PKG_VERSION"), env!("AZURE_CORTEX_COMMIT"));
        let sandbox = config.sandbox;
        let (app, admin) = AppState::open(engine.clone(), config)
            .await
            .map_err(start_error)?;
        if let Some(azure) = &azure {
            app.set_azure(cortex_web::AzureAccess {
                env: azure.env.clone(),
                endpoints: Ok(azure.endpoints.clone()),
            });
        }
        let users = app.auth().user_count().await.unwrap_or(0);
        announce(out, &app, local, admin, users, emulator_controls.as_deref());
        if let Some(azure) = &sso {
            announce_sso(out, azure);
        }
        if let Some(azure) = &azure {
            announce_azure(out, azure);
        }
        let watching = watch.spawn(&engine, sandbox, stop.clone())?;
        let served = cortex_web::serve(listener, app.clone(), stop.cancelled_owned())
            .await
            .map_err(|e| CliError::failed("serve", format!("the server stopped: {e}")));
        if let Some(watching) = watching {
            watching.abort();
        }
        app.auth().close().await;
        served
    }
    .await;
    engine.store().close().await;
    result
}

fn start_error(e: StartError) -> CliError {
    match e {
        StartError::Tls(message) => CliError::new(Exit::Usage, "tls", format!("TLS: {message}")),
        StartError::Auth(e) => CliError::failed("users_database", e.to_string()),
    }
}

/// The URL clients use: the bound address, with the loopback address for a wildcard one.
pub fn base_url(local: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let host = match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
        IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_owned(),
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    format!("{scheme}://{host}:{}", local.port())
}

/// Where the server is and how to sign in (stdout). The generated password is printed here and
/// nowhere else — never logged.
fn announce(
    out: &Out,
    app: &AppState,
    local: SocketAddr,
    admin: Option<GeneratedAdmin>,
    users: u64,
    emulator_controls: Option<&std::path::Path>,
) {
    let config = app.config();
    let url = base_url(local, app.is_tls());
    if out.json() {
        out.json_line(&serde_json::json!({
            "type": "listening",
            "url": url,
            "address": local.to_string(),
            "sandbox": config.sandbox,
            "tls": app.is_tls(),
            "worker": config.worker,
            "data_dir": config.data_dir.display().to_string(),
            "emulator_controls_file": emulator_controls.map(|p| p.display().to_string()),
            "admin": admin.as_ref().map(|a| serde_json::json!({
                "name": a.name, "password": a.password.expose(),
            })),
        }));
        return;
    }
    let mode = if config.sandbox {
        " (sandbox: the Prisma Cloud emulator, an emulated Azure and the Terraform twin in this process)"
    } else {
        ""
    };
    out.line(&format!("Listening on {url}{mode}"));
    if !out.quiet {
        out.line(&format!(
            "Web UI: {url}/ · API: {url}/api/v1 · OpenAPI: {url}/api/v1/openapi.json · \
             health: {url}/healthz"
        ));
        out.line(&format!("Data directory: {}", config.data_dir.display()));
        if let Some(file) = emulator_controls {
            out.line(&format!(
                "Emulator controls (fail or recover a capability, age a secret; docs/emulator.md \
                 8.5): URL and token in {} (owner-only)",
                file.display()
            ));
        }
        out.line(if config.worker {
            "Jobs submitted here run in this process."
        } else {
            "Jobs are queued for `azure-cortex worker` (--no-worker)."
        });
    }
    let login = |name: &str, password: &str| {
        format!(
            "curl -c cookies.txt -H 'content-type: application/json' \
             -d '{{\"name\": \"{name}\", \"password\": \"{password}\"}}' {url}/api/v1/auth/login"
        )
    };
    match admin {
        Some(admin) => {
            out.line("First start: an administrator was created. Sign in with");
            out.line(&format!("  name:     {}", admin.name));
            out.line(&format!("  password: {}", admin.password.expose()));
            out.line(
                "The password is shown only this once (it is stored as a hash only); \
                 `azure-cortex users add` creates more users.",
            );
            out.line(&format!("  {}", login(&admin.name, "<the password above>")));
        }
        None if users == 0 => out.line(
            "No user can sign in yet: create one with AZURE_CORTEX_PASSWORD=… \
             azure-cortex users add NAME --role admin (no restart needed).",
        ),
        None if !out.quiet => {
            out.line(&format!(
                "Sign in as one of the {users} users of {}:",
                app.auth().location()
            ));
            out.line(&format!("  {}", login("NAME", "PASSWORD")));
        }
        None => {}
    }
    if !out.quiet {
        out.line("Press Ctrl-C to stop.");
    }
}

/// The sandbox's single sign-on: where the emulated Entra ID is and who can sign in.
fn announce_sso(out: &Out, azure: &azure_emulator::RunningAzure) {
    if out.json() {
        out.json_line(&serde_json::json!({
            "type": "sso",
            "issuer": azure.issuer(),
            "users": crate::sandbox_sso::SANDBOX_USERS
                .iter()
                .map(|(user, role)| serde_json::json!({"user": user, "role": role}))
                .collect::<Vec<_>>(),
        }));
        return;
    }
    if out.quiet {
        return;
    }
    out.line(&format!(
        "Single sign-on: \"Sign in with Microsoft Entra ID\" uses the emulated Entra ID at {}; \
         its sign-in page lists the sandbox users:",
        azure.issuer()
    ));
    for (user, role) in crate::sandbox_sso::SANDBOX_USERS {
        out.line(&format!("  {user:<24} {role}"));
    }
}

/// The sandbox's emulated Azure: where it is and whom discovery signs in as.
fn announce_azure(out: &Out, azure: &cortex_cli::azure::AzureTarget) {
    use azure_emulator::tenant_seed::{TENANT_ID, TENANT_NAME};
    let url = azure.endpoints.arm.to_string();
    if out.json() {
        out.json_line(&serde_json::json!({
            "type": "azure", "tenant_id": TENANT_ID, "endpoint": url,
        }));
        return;
    }
    if !out.quiet {
        out.line(&format!(
            "Emulated Azure: tenant {TENANT_NAME} ({TENANT_ID}) at {url} · the Coverage page and \
             `azure-cortex --sandbox discover --tenant {TENANT_ID}` read it"
        ));
    }
}

/// Ctrl-C and SIGTERM, registered when made (not when first awaited).
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(not(unix))]
    fn new() -> std::io::Result<Self> {
        Ok(Self {})
    }

    #[cfg(unix)]
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }

    #[cfg(not(unix))]
    async fn recv(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_has_the_bound_port_and_a_reachable_host() {
        assert_eq!(
            base_url("127.0.0.1:4321".parse().unwrap(), false),
            "http://127.0.0.1:4321"
        );
        assert_eq!(
            base_url("0.0.0.0:8443".parse().unwrap(), true),
            "https://127.0.0.1:8443"
        );
        assert_eq!(
            base_url("[::]:80".parse().unwrap(), false),
            "http://[::1]:80"
        );
    }
}
