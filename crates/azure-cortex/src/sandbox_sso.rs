//! `serve --sandbox` demonstrates single sign-on: the emulated Entra ID (`azure-emulator`) runs
//! in this process on a free loopback port, with the sandbox tenant's users, and the server is
//! configured against it (groups and an app role mapped to the three roles). The client secret
//! is generated here and passed in memory only. A configured `[oidc]` wins over this.

use std::collections::BTreeMap;
use std::future::Future;

use azure_emulator::entra::{
    SANDBOX_ADMINS_GROUP, SANDBOX_OPERATOR_APP_ROLE, SANDBOX_OPERATORS_GROUP, SANDBOX_VIEWERS_GROUP,
};
use azure_emulator::{EntraConfig, RunningAzure};
use cortex_cli::CliError;
use cortex_web::WebConfig;
use cortex_web::auth::oidc::{OidcConfig, OidcSettings};
use prisma_types::SecretString;
use rand::Rng;

/// The sandbox app registration's client id.
pub const SANDBOX_CLIENT_ID: &str = "c0a1e5ce-5a4d-4b0c-8e7f-00000000c0de";

/// The sandbox directory, for the startup message: `(user, role it maps to)`.
pub const SANDBOX_USERS: [(&str, &str); 5] = [
    ("alice@contoso.example", "admin"),
    ("oscar@contoso.example", "operator (app role)"),
    ("vera@contoso.example", "viewer"),
    ("nick@contoso.example", "none: refused"),
    (
        "gina@contoso.example",
        "operator (groups overage, app role)",
    ),
];

/// Starts the emulated tenant for the server at `base_url` and points `config.oidc` at it.
pub async fn start(
    config: &mut WebConfig,
    base_url: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningAzure, CliError> {
    let secret: String = {
        let mut rng = rand::rng();
        (0..40)
            .map(|_| {
                char::from(
                    b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
                        [rng.random_range(0..56)],
                )
            })
            .collect()
    };
    let redirect = format!("{base_url}{}", cortex_web::auth::oidc::CALLBACK_PATH);
    let tenant = EntraConfig::sandbox(
        SANDBOX_CLIENT_ID,
        &secret,
        &redirect,
        &format!("{base_url}/login"),
    );
    let azure = azure_emulator::spawn(([127, 0, 0, 1], 0).into(), tenant, shutdown)
        .await
        .map_err(|e| {
            CliError::failed("sso", format!("the emulated Entra ID did not start: {e}"))
        })?;
    let oidc = OidcConfig::check(OidcSettings {
        issuer: Some(azure.issuer()),
        client_id: Some(SANDBOX_CLIENT_ID.into()),
        client_secret: Some(SecretString::from(secret)),
        redirect_url: Some(redirect),
        display_name: Some("Microsoft Entra ID".into()),
        groups: Some(BTreeMap::from([
            (SANDBOX_ADMINS_GROUP.to_owned(), "admin".to_owned()),
            (SANDBOX_OPERATORS_GROUP.to_owned(), "operator".to_owned()),
            (SANDBOX_VIEWERS_GROUP.to_owned(), "viewer".to_owned()),
        ])),
        app_roles: Some(BTreeMap::from([(
            SANDBOX_OPERATOR_APP_ROLE.to_owned(),
            "operator".to_owned(),
        )])),
        ..OidcSettings::default()
    })
    .map_err(|e| CliError::failed("sso", e.to_string()))?;
    config.oidc = Some(oidc);
    Ok(azure)
}
