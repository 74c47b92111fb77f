//! `azure-cortex users add | list | token`: the web server's users, in the users database of the data
//! directory (`<data-dir>/web-auth.db`, or `auth_database` of the configuration — the same
//! [`crate::web_config`] as `serve`).
//!
//! A password is never a flag value (other users of the machine see command lines): it comes
//! from `AZURE_CORTEX_PASSWORD` or from the file named by `--password-file`. `users token`
//! creates an API token for a user (with a scope and an expiry, as `POST /api/v1/tokens`) and
//! prints it once, on stdout only.

use std::path::{Path, PathBuf};

use clap::ArgMatches;
use cortex_cli::{CliError, Exit, GlobalArgs, Out};
use cortex_web::auth::TokenScope;
use cortex_web::auth::store::{validate_name, validate_password};
use cortex_web::{AuthStore, Role, WebConfig, WebSettings};
use prisma_types::SecretString;

use crate::web_config::{self, ConfigArgs};

/// The variable `users add` reads the password from.
pub const PASSWORD_ENV: &str = "AZURE_CORTEX_PASSWORD";

pub const EXAMPLES: &str = "\
Examples:
  AZURE_CORTEX_PASSWORD='correct horse battery' azure-cortex users add alice --role admin
  azure-cortex users add bob --role operator --password-file ./bob.password
  azure-cortex users list
  azure-cortex users token alice --name prometheus --scope metrics-only --expires-in-days 30";

#[derive(clap::Subcommand, Debug)]
pub enum UsersCommand {
    /// Create a user (password from AZURE_CORTEX_PASSWORD or --password-file, 12+ characters).
    #[command(after_help = EXAMPLES)]
    Add(AddArgs),
    /// List the users and their roles.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Create an API token for a user; it is printed once (stdout) and stored as a hash.
    #[command(after_help = EXAMPLES)]
    Token(TokenArgs),
}

#[derive(clap::Args, Debug)]
pub struct TokenArgs {
    /// The user the token acts as.
    #[arg(value_name = "USER")]
    pub user: String,
    /// What the token is for (1-100 characters), as listed by GET /api/v1/tokens.
    #[arg(long = "name", value_name = "NAME")]
    pub token_name: String,
    /// full (the user's role), read-only (reads only) or metrics-only (GET /metrics only).
    #[arg(long, value_enum, default_value = "full")]
    pub scope: ScopeArg,
    /// Days until it expires [default: the server's token_days, 90]; at most token_max_days.
    #[arg(long, value_name = "DAYS")]
    pub expires_in_days: Option<u32>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ScopeArg {
    Full,
    ReadOnly,
    MetricsOnly,
}

impl From<ScopeArg> for TokenScope {
    fn from(s: ScopeArg) -> Self {
        match s {
            ScopeArg::Full => TokenScope::Full,
            ScopeArg::ReadOnly => TokenScope::ReadOnly,
            ScopeArg::MetricsOnly => TokenScope::MetricsOnly,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// The user name: 1-64 letters, digits, `.`, `_`, `-`, `@` (unique regardless of case).
    #[arg(value_name = "NAME")]
    pub name: String,
    /// What the user may do: viewer reads; operator also onboards, approves, cancels,
    /// offboards; admin also manages users.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// A file holding the password (one line); else AZURE_CORTEX_PASSWORD.
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    Viewer,
    Operator,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Operator => Role::Operator,
            RoleArg::Admin => Role::Admin,
        }
    }
}

fn auth_error(e: cortex_web::auth::AuthError) -> CliError {
    use cortex_web::auth::AuthError;
    match e {
        AuthError::Invalid { field, message } => CliError::field(field, message),
        AuthError::Conflict(message) => CliError::field("name", message),
        other => CliError::failed("users_database", other.to_string()),
    }
}

/// The password: `--password-file` if given, else the variable `env_password`. Checked against
/// the users database's rule.
pub fn read_password(
    file: Option<&Path>,
    env_password: Option<String>,
) -> Result<SecretString, CliError> {
    let password = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::field(
                    "password_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            // The line's end is not part of the password; other white space is.
            let first = text.split(['\n', '\r']).next().unwrap_or_default();
            SecretString::from(first)
        }
        None => match env_password.filter(|p| !p.is_empty()) {
            Some(p) => SecretString::from(p),
            None => {
                return Err(CliError::field(
                    "password",
                    format!(
                        "set {PASSWORD_ENV} or give --password-file (never on the command line)"
                    ),
                ));
            }
        },
    };
    validate_password(&password).map_err(auth_error)?;
    Ok(password)
}

pub async fn run(
    global: &GlobalArgs,
    matches: &ArgMatches,
    command: UsersCommand,
) -> Result<Exit, CliError> {
    let out = global.out();
    match command {
        UsersCommand::Add(args) => add(global, matches, &out, args).await,
        UsersCommand::List { config } => list(global, matches, &out, config).await,
        UsersCommand::Token(args) => token(global, matches, &out, args).await,
    }
}

async fn open(
    global: &GlobalArgs,
    matches: &ArgMatches,
    config: &ConfigArgs,
) -> Result<AuthStore, CliError> {
    open_with_config(global, matches, config)
        .await
        .map(|(auth, _)| auth)
}

async fn open_with_config(
    global: &GlobalArgs,
    matches: &ArgMatches,
    config: &ConfigArgs,
) -> Result<(AuthStore, WebConfig), CliError> {
    let config = web_config::load(
        global,
        matches,
        config.file.as_deref(),
        std::env::vars(),
        WebSettings::default(),
    )?;
    if !config.data_dir.exists() {
        create_private_dir(&config.data_dir)?;
    }
    let auth = AuthStore::open_for(&config).await.map_err(auth_error)?;
    Ok((auth, config))
}

async fn token(
    global: &GlobalArgs,
    matches: &ArgMatches,
    out: &Out,
    args: TokenArgs,
) -> Result<Exit, CliError> {
    let (auth, config) = open_with_config(global, matches, &args.config).await?;
    let created = async {
        let max_days = config.token_max_ttl.as_secs() / 86_400;
        let ttl = match args.expires_in_days {
            None => config.token_default_ttl,
            Some(days) if (1..=max_days).contains(&u64::from(days)) => {
                std::time::Duration::from_secs(u64::from(days) * 86_400)
            }
            Some(_) => {
                return Err(CliError::field(
                    "expires_in_days",
                    format!("--expires-in-days must be 1-{max_days} (token_max_days)"),
                ));
            }
        };
        let user = auth
            .list_users()
            .await
            .map_err(auth_error)?
            .into_iter()
            .find(|u| u.name.eq_ignore_ascii_case(args.user.trim()))
            .ok_or_else(|| {
                CliError::field(
                    "user",
                    format!("no user named {} in {}", args.user, auth.location()),
                )
            })?;
        auth.create_token(&user, &args.token_name, args.scope.into(), ttl)
            .await
            .map_err(auth_error)
            .map(|(token, info)| (user, token, info))
    }
    .await;
    auth.close().await;
    let (user, token, info) = created?;
    if out.json() {
        out.json_line(&serde_json::json!({
            "type": "token", "user": user.name, "id": info.id, "name": info.name,
            "scope": info.scope, "created_at": info.created_at, "expires_at": info.expires_at,
            "token": token.expose(),
        }));
    } else {
        out.line(&format!(
            "Created {} API token {} for {} ({}), expiring at {} (Unix {}). Shown only this once:",
            info.scope,
            info.name,
            user.name,
            user.role,
            cortex_web::auth::store::rfc3339(info.expires_at),
            info.expires_at
        ));
        out.line(token.expose());
    }
    Ok(Exit::Success)
}

async fn add(
    global: &GlobalArgs,
    matches: &ArgMatches,
    out: &Out,
    args: AddArgs,
) -> Result<Exit, CliError> {
    // Every input is checked before anything is created on disk.
    let name = validate_name(&args.name).map_err(auth_error)?;
    let password = read_password(
        args.password_file.as_deref(),
        std::env::var(PASSWORD_ENV).ok(),
    )?;
    let auth = open(global, matches, &args.config).await?;
    let created = auth.create_user(&name, &password, args.role.into()).await;
    let location = auth.location().to_owned();
    auth.close().await;
    let user = created.map_err(auth_error)?;
    if out.json() {
        out.json_line(&serde_json::json!({
            "type": "user", "id": user.id, "name": user.name, "role": user.role,
            "created_at": user.created_at,
        }));
    } else {
        out.line(&format!(
            "Created {} {} in {}",
            user.role, user.name, location
        ));
    }
    Ok(Exit::Success)
}

async fn list(
    global: &GlobalArgs,
    matches: &ArgMatches,
    out: &Out,
    config: ConfigArgs,
) -> Result<Exit, CliError> {
    let auth = open(global, matches, &config).await?;
    let users = auth.list_users().await;
    auth.close().await;
    let users = users.map_err(auth_error)?;
    if out.json() {
        out.json_line(&serde_json::to_value(&users).unwrap_or_default());
    } else {
        out.line(&format!("{:<10}  NAME", "ROLE"));
        for u in &users {
            out.line(&format!("{:<10}  {}", u.role.as_str(), u.name));
        }
    }
    Ok(Exit::Success)
}

/// A data directory made here is its owner's only (as the store's).
fn create_private_dir(dir: &Path) -> Result<(), CliError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| {
        CliError::new(
            Exit::Usage,
            "data_dir",
            format!("--data-dir {}: {e}", dir.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_comes_from_the_file_or_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "a long password 1\r\n").unwrap();
        let p = read_password(Some(&file), Some("ignored-variable-value".into())).unwrap();
        assert_eq!(p.expose(), "a long password 1");
        let p = read_password(None, Some("from the environment".into())).unwrap();
        assert_eq!(p.expose(), "from the environment");
        for (file, env, field) in [
            (None, None, "password"),
            (None, Some(String::new()), "password"),
            (None, Some("short".to_owned()), "password"),
            (Some(dir.path().join("missing")), None, "password_file"),
        ] {
            let e = read_password(file.as_deref(), env).unwrap_err();
            assert_eq!(e.exit, Exit::Usage);
            assert_eq!(e.fields[0].field, field, "{}", e.message);
        }
    }
}
