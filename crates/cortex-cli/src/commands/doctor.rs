//! `azure-cortex doctor`: checks what onboarding needs, each with ok / warn / fail and a fix;
//! exits 1 if any check fails.
//!
//! Terraform and its version; Azure credentials for Terraform, really checked: a token obtained
//! the way the azurerm/azuread providers would, and who it names (`azure_access`), plus, with
//! `--scope`, the privileges onboarding that scope needs;
//! the Prisma Cloud configuration, reachability and key (a login); the clock against the API's
//! `Date` header (warn beyond 60 s: tokens and Azure sign-ins depend on it); the data
//! directory (exists, writable, not readable by others) and its key file (0600). With
//! `--sandbox` the emulator stands in for Prisma and a missing Terraform only warns (the
//! sandbox then replays the same resources without it).

use std::path::Path;
use std::time::{Duration, SystemTime};

use azure_access::NotReady;
use azure_access::privileges::{Target, TargetScope};
use onboarding_engine::identity::find_on_path;
use prisma_client::ClientConfig;
use prisma_types::{ManagementGroupId, SubscriptionId, TenantId};
use serde::Serialize;
use terraform_runner::runner::{RunnerConfig, TerraformRunner};

use crate::GlobalArgs;
use crate::azure::AzureTarget;
use crate::exit::{CliError, Exit};
use crate::output::Out;
use crate::session::Prisma;

/// The oldest Terraform the configurations are written for.
pub const MIN_TERRAFORM: (u64, u64) = (1, 5);
/// Clock skew beyond this is a warning.
pub const MAX_SKEW: Duration = Duration::from_secs(60);

pub const EXAMPLES: &str = "\
Examples:
  azure-cortex doctor
  azure-cortex --sandbox doctor
  azure-cortex doctor --output json
  azure-cortex doctor --scope management-group:contoso-root
  azure-cortex doctor --scope subscription:5b1c0000-0000-4000-8000-000000000007 --directory-readers";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub message: String,
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, message: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Ok,
            message: message.into(),
            fix: None,
        }
    }
    fn warn(name: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Warn,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
    fn fail(name: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Fail,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}

fn parse_version(v: &str) -> Option<(u64, u64)> {
    let mut parts = v.trim_start_matches('v').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

async fn terraform(sandbox: bool) -> Check {
    const NAME: &str = "terraform";
    let install = "install Terraform ≥ 1.5 and put it on PATH";
    let Some(binary) = find_on_path("terraform") else {
        return if sandbox {
            Check::warn(
                NAME,
                "terraform is not on PATH: the sandbox replays the resources instead of running it",
                install,
            )
        } else {
            Check::fail(NAME, "terraform is not on PATH", install)
        };
    };
    let runner = TerraformRunner::new(RunnerConfig::new(&binary, std::env::temp_dir()));
    match tokio::time::timeout(Duration::from_secs(30), runner.version()).await {
        Ok(Ok(v)) => match parse_version(&v.version) {
            Some(found) if found >= MIN_TERRAFORM => Check::ok(
                NAME,
                format!(
                    "terraform {} ({}) at {}",
                    v.version,
                    v.platform,
                    binary.display()
                ),
            ),
            _ => {
                let message = format!("terraform {} is older than 1.5", v.version);
                if sandbox {
                    Check::warn(NAME, message, install)
                } else {
                    Check::fail(NAME, message, install)
                }
            }
        },
        Ok(Err(e)) => Check::fail(
            NAME,
            format!("{} does not run: {e}", binary.display()),
            install,
        ),
        Err(_) => Check::fail(NAME, "`terraform version` did not answer in 30 s", install),
    }
}

/// `doctor`'s options: the target whose privileges to check.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct DoctorArgs {
    /// Also check the privileges onboarding this scope needs: `subscription:<id>`,
    /// `management-group:<id>`, `tenant:<tenant id>` (the tenant root group) or `entra`.
    #[arg(long, value_parser = parse_scope)]
    pub scope: Option<TargetScope>,
    /// The identity already exists (Terraform creates nothing: no privileges needed).
    #[arg(long, requires = "scope")]
    pub existing_identity: bool,
    /// The new service principal gets the Directory Readers role.
    #[arg(long, requires = "scope")]
    pub directory_readers: bool,
    /// Entra ID audit logs are exported.
    #[arg(long, requires = "scope")]
    pub audit_log_export: bool,
}

/// `--scope KIND:ID`, its id validated like the onboarding request's.
fn parse_scope(input: &str) -> Result<TargetScope, String> {
    let (kind, id) = input.split_once(':').unwrap_or((input, ""));
    match kind {
        "subscription" => SubscriptionId::parse_as("scope", id)
            .map(|s| TargetScope::Subscription(s.to_string()))
            .map_err(|e| e.to_string()),
        "management-group" => ManagementGroupId::parse_as("scope", id)
            .map(|g| TargetScope::ManagementGroup(g.to_string()))
            .map_err(|e| e.to_string()),
        "tenant" => TenantId::parse_as("scope", id)
            .map(|t| TargetScope::Tenant(t.to_string()))
            .map_err(|e| e.to_string()),
        "entra" => Ok(TargetScope::EntraOnly),
        _ => Err(format!(
            "scope: `{input}` is not subscription:<id>, management-group:<id>, tenant:<id> or entra"
        )),
    }
}

/// The credential and privilege checks, shared with the job's prerequisites
/// (`azure_access::ready`). The sandbox checks its emulated Azure (the seeded Contoso tenant,
/// signed in as the ci-onboarding service principal) unless the environment chooses a method.
async fn azure_checks(sandbox: bool, args: &DoctorArgs) -> Vec<Check> {
    let azure = match AzureTarget::open(sandbox).await {
        Ok(a) => a,
        Err((reason, fix)) => return vec![Check::fail("azure_credentials", reason, fix)],
    };
    let target = args.scope.clone().map(|scope| Target {
        scope,
        creates_identity: !args.existing_identity,
        directory_readers: args.directory_readers,
        audit_log_export: args.audit_log_export,
    });
    match azure_access::ready(&azure.env, &azure.endpoints, target.as_ref()).await {
        Ok(ready) => {
            let mut checks = vec![Check::ok("azure_credentials", ready.identity.summary())];
            if let Some(report) = ready.privileges {
                checks.push(Check::ok(
                    "azure_privileges",
                    format!(
                        "nothing missing (Azure roles at the scope: {}; directory roles: {})",
                        list_or_none(&report.azure_roles),
                        list_or_none(&report.directory_roles)
                    ),
                ));
            }
            checks
        }
        Err(NotReady::Credentials(e)) => vec![Check::fail("azure_credentials", e.reason, e.fix)],
        Err(not_ready) => {
            let identity = not_ready
                .identity()
                .map(|i| i.summary())
                .unwrap_or_default();
            vec![
                Check::ok("azure_credentials", identity),
                Check::fail("azure_privileges", not_ready.what(), not_ready.fix()),
            ]
        }
    }
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

async fn prisma_session(prisma: &Prisma, sandbox: bool) -> Check {
    const NAME: &str = "prisma";
    let client = match prisma.client() {
        Ok(c) => c,
        Err(e) => return Check::fail(NAME, e.message, "check PRISMA_API_URL and PRISMA_CA_CERT"),
    };
    let target = if sandbox {
        format!("the sandbox emulator at {}", prisma.config.base_url)
    } else {
        prisma.config.base_url.to_string()
    };
    match tokio::time::timeout(Duration::from_secs(45), client.ensure_session()).await {
        Ok(Ok(())) => Check::ok(NAME, format!("{target} reachable; access key accepted")),
        Ok(Err(e @ prisma_client::Error::Auth(_))) => Check::fail(
            NAME,
            format!("{target}: the access key was refused: {e}"),
            "check PRISMA_ACCESS_KEY_ID and PRISMA_SECRET_KEY (Settings → Access Control → Access Keys), and PRISMA_CUSTOMER_NAME for multi-tenant keys",
        ),
        Ok(Err(e)) => Check::fail(
            NAME,
            format!("{target}: {e}"),
            "check PRISMA_API_URL (stack name or URL), the network and any proxy",
        ),
        Err(_) => Check::fail(
            NAME,
            format!("{target} did not answer in 45 s"),
            "check PRISMA_API_URL, the network and any proxy",
        ),
    }
}

/// Compares the API's `Date` header with the local clock.
async fn clock_skew(config: &ClientConfig) -> Check {
    const NAME: &str = "clock_skew";
    let fix = "synchronise the clock (NTP: `timedatectl set-ntp true`)";
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = &config.extra_ca_pem
        && let Ok(cert) = reqwest::Certificate::from_pem(pem.as_bytes())
    {
        builder = builder.add_root_certificate(cert);
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => return Check::warn(NAME, format!("could not measure: {e}"), fix),
    };
    let sent = SystemTime::now();
    let response = match client.get(config.base_url.join("/")).send().await {
        Ok(r) => r,
        Err(e) => return Check::warn(NAME, format!("could not measure: {e}"), fix),
    };
    let received = SystemTime::now();
    let Some(date) = response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    else {
        return Check::warn(NAME, "the API sent no Date header; skew unknown", fix);
    };
    // The header has whole seconds; compare with the middle of the exchange.
    let local = sent + received.duration_since(sent).unwrap_or_default() / 2;
    let (skew, sign) = match local.duration_since(date) {
        Ok(ahead) => (ahead, "ahead of"),
        Err(e) => (e.duration(), "behind"),
    };
    let text = format!("local clock {} s {sign} the API", skew.as_secs());
    if skew > MAX_SKEW {
        Check::warn(NAME, text, fix)
    } else {
        Check::ok(NAME, format!("{text} (within {} s)", MAX_SKEW.as_secs()))
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn mode(_: &Path) -> Option<u32> {
    None
}

fn data_dir(dir: &Path) -> Vec<Check> {
    const NAME: &str = "data_dir";
    const KEY: &str = "key_file";
    let shown = dir.display();
    if !dir.exists() {
        return vec![
            Check::warn(
                NAME,
                format!("{shown} does not exist yet"),
                "nothing to do: the first onboarding creates it (mode 0700)",
            ),
            Check::ok(KEY, "created with the data directory (mode 0600)"),
        ];
    }
    if !dir.is_dir() {
        return vec![Check::fail(
            NAME,
            format!("{shown} is not a directory"),
            "point --data-dir (AZURE_CORTEX_DATA_DIR) at a directory",
        )];
    }
    let mut checks = Vec::new();
    let probe = dir.join(format!(".doctor-{}", std::process::id()));
    let writable = std::fs::write(&probe, b"").and_then(|()| std::fs::remove_file(&probe));
    checks.push(match (writable, mode(dir)) {
        (Err(e), _) => Check::fail(
            NAME,
            format!("{shown} is not writable: {e}"),
            format!("give your user write access: chown -R \"$USER\" {shown}"),
        ),
        (Ok(()), Some(m)) if m & 0o007 != 0 => Check::warn(
            NAME,
            format!("{shown} is accessible to every user (mode {m:o})"),
            format!("chmod 700 {shown}"),
        ),
        (Ok(()), m) => Check::ok(
            NAME,
            format!(
                "{shown} is writable{}",
                m.map(|m| format!(", mode {m:o}")).unwrap_or_default()
            ),
        ),
    });
    let key = dir.join(cortex_store::keyring::KEY_FILE_NAME);
    let from_env = std::env::var_os(cortex_store::keyring::ENV_MASTER_KEY).is_some();
    checks.push(match (key.exists(), mode(&key)) {
        (false, _) if from_env => {
            Check::ok(KEY, "the master key comes from AZURE_CORTEX_MASTER_KEY")
        }
        (false, _) => Check::ok(KEY, "no key file yet (created on first use, mode 0600)"),
        (true, Some(m)) if m & 0o077 != 0 => Check::fail(
            KEY,
            format!("{} is readable by others (mode {m:o})", key.display()),
            format!("chmod 600 {}", key.display()),
        ),
        (true, m) => Check::ok(
            KEY,
            format!(
                "{}{}",
                key.display(),
                m.map(|m| format!(" (mode {m:o})")).unwrap_or_default()
            ),
        ),
    });
    checks
}

pub async fn run(global: &GlobalArgs, out: &Out, args: DoctorArgs) -> Result<Exit, CliError> {
    let mut checks = vec![terraform(global.sandbox).await];
    checks.extend(azure_checks(global.sandbox, &args).await);
    match Prisma::connect(global).await {
        Ok(prisma) => {
            checks.push(prisma_session(&prisma, global.sandbox).await);
            checks.push(clock_skew(&prisma.config).await);
            let _ = prisma.close().await;
        }
        Err(e) => {
            checks.push(Check::fail(
                "prisma",
                e.message,
                "set PRISMA_API_URL, PRISMA_ACCESS_KEY_ID and PRISMA_SECRET_KEY (or use --sandbox)",
            ));
            checks.push(Check::warn(
                "clock_skew",
                "not measured: no Prisma Cloud API to ask",
                "configure Prisma Cloud first",
            ));
        }
    }
    checks.extend(data_dir(&global.data_dir));
    let failed = checks.iter().any(|c| c.status == Status::Fail);
    if out.json() {
        out.json_line(&serde_json::json!({
            "type": "doctor",
            "ok": !failed,
            "checks": checks,
        }));
    } else {
        let s = out.style;
        for c in &checks {
            let word = match c.status {
                Status::Ok => s.green("ok  "),
                Status::Warn => s.yellow("warn"),
                Status::Fail => s.red("fail"),
            };
            out.line(&format!("{word}  {:<18} {}", c.name, c.message));
            if let Some(fix) = &c.fix
                && c.status != Status::Ok
            {
                out.line(&format!("      {:<18} fix: {fix}", ""));
            }
        }
    }
    Ok(if failed { Exit::Failed } else { Exit::Success })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare() {
        assert_eq!(parse_version("1.11.4"), Some((1, 11)));
        assert!(parse_version("1.11.4").unwrap() >= MIN_TERRAFORM);
        assert!(parse_version("v1.4.9").unwrap() < MIN_TERRAFORM);
        assert_eq!(parse_version("x"), None);
    }

    #[test]
    fn a_missing_data_dir_warns_and_a_loose_key_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let missing = data_dir(&dir.path().join("nope"));
        assert_eq!(missing[0].status, Status::Warn);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let key = dir.path().join(cortex_store::keyring::KEY_FILE_NAME);
            std::fs::write(&key, "x").unwrap();
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
            let checks = data_dir(dir.path());
            assert_eq!(checks[0].status, Status::Ok, "{checks:?}");
            assert_eq!(checks[1].status, Status::Fail, "{checks:?}");
        }
    }
}
