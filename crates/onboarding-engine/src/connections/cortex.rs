//! A Cortex Cloud connection: the tenant's API origin and its API key, in the types of
//! `cortex-cloud-types` (parsed once at the edge by [`parse`]).
//!
//! * `api_url`: [`ApiUrl`] — `https://api-{fqdn}` (what the console's *Copy API URL* gives); a
//!   console URL or host is turned into it. Plain http only to a loopback address (the
//!   emulator).
//! * `key_id`: [`KeyId`] — the *ID* column of the console's API Keys table, a positive integer
//!   (`x-xdr-auth-id`). Not a secret; shown in full.
//! * `key_type`: [`KeyType`] — `standard` (the key travels in `Authorization`) or `advanced`
//!   (only SHA-256(key + nonce + timestamp) travels). The official SDK's default is `advanced`,
//!   and so is ours when the field is absent.
//! * `key`: inside [`ApiKey`], a `SecretString`: stored encrypted, never shown.

use std::fmt;
use std::time::Duration;

pub use cortex_cloud_types::key::{ApiKey, ApiUrl, KeyId, KeyType};
use prisma_types::SecretString;

/// A Cortex Cloud tenant and the API key that reaches it.
#[derive(Clone, PartialEq, Eq)]
pub struct CortexConnection {
    pub api_url: ApiUrl,
    pub key: ApiKey,
}

impl fmt::Debug for CortexConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CortexConnection")
            .field("api_url", &self.api_url.as_str())
            .field("key_id", &self.key.id.get())
            .field("key", &self.key.key)
            .field("key_type", &self.key.kind.as_str())
            .finish()
    }
}

/// Each field as given (`None`: absent); every problem is reported through `fail` with its
/// field, never quoting the value.
pub(crate) fn parse(
    api_url: Option<&str>,
    key_id: Option<&str>,
    key: Option<&SecretString>,
    key_type: Option<&str>,
    fail: &mut impl FnMut(&str, String),
) -> Option<CortexConnection> {
    let api_url = match api_url {
        None => {
            fail(
                "api_url",
                "is required: the API URL from Settings > Configurations > API Keys > Copy API \
                 URL"
                .into(),
            );
            None
        }
        Some(raw) => ApiUrl::parse(raw)
            .map_err(|e| fail("api_url", e.message))
            .ok(),
    };
    let key_id = match key_id.map(str::trim) {
        None | Some("") => {
            fail(
                "key_id",
                "is required: the ID column of the API Keys table".into(),
            );
            None
        }
        Some(raw) => raw
            .parse::<KeyId>()
            .map_err(|e| fail("key_id", e.message))
            .ok(),
    };
    let kind = match key_type.map(str::trim) {
        None | Some("") => Some(KeyType::default()),
        Some(raw) => raw
            .parse::<KeyType>()
            .map_err(|e| {
                fail(
                    "key_type",
                    format!("{} (the key's Security Level)", e.message),
                )
            })
            .ok(),
    };
    let key = match key.map(|k| k.expose().trim()) {
        None | Some("") => {
            fail(
                "key",
                "is required: the key shown once when it was created".into(),
            );
            return None;
        }
        Some(k) => SecretString::from(k),
    };
    // The key's shape is checked whatever else is wrong, so every field is named at once.
    let checked = ApiKey::new(
        key_id.unwrap_or(KeyId::new(1).expect("1 is positive")),
        key,
        kind.unwrap_or_default(),
    )
    .map_err(|e| fail("key", e.message))
    .ok()?;
    Some(CortexConnection {
        api_url: api_url?,
        key: ApiKey {
            id: key_id?,
            kind: kind?,
            ..checked
        },
    })
}

/// The client configuration for `connection`: its URL and key, Cortex's default budgets, and
/// the engine's extra trusted CA (the emulator's, when it serves https).
pub fn client_config(
    connection: &CortexConnection,
    extra_ca_pem: Option<String>,
) -> cortex_cloud_client::ClientConfig {
    let mut config =
        cortex_cloud_client::ClientConfig::new(connection.api_url.clone(), connection.key.clone());
    config.extra_ca_pem = extra_ca_pem;
    config
}

/// [`client_config`] for a person waiting on a page or a test: answered within seconds
/// (three attempts, short timeouts, a 30 s budget per call) instead of Cortex's minutes.
pub fn interactive_config(
    connection: &CortexConnection,
    extra_ca_pem: Option<String>,
) -> cortex_cloud_client::ClientConfig {
    let mut config = client_config(connection, extra_ca_pem);
    config.timeouts = cortex_cloud_client::Timeouts {
        connect: Duration::from_secs(5),
        request: Duration::from_secs(15),
    };
    config.retry = cortex_cloud_client::RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(2),
        max_retry_after: Duration::from_secs(5),
        call_deadline: Duration::from_secs(30),
    };
    config
}

/// Tests a Cortex Cloud connection: the key against `GET /api_keys/validate`, then the Cloud
/// Onboarding API itself (`get_azure_approved_tenants`, which needs the key's role to hold the
/// onboarding permission and the tenant's license to include it). The answer says what works
/// (URL, key id and type, the approved tenants) or the client's sentence with its fix; neither
/// ever holds the key. Cortex's API reports no key expiry, so the answer points at the console
/// column that does.
pub(crate) async fn test(
    connection: &CortexConnection,
    extra_ca_pem: Option<String>,
) -> super::ConnectionTest {
    let what = format!(
        "Cortex Cloud at {} with key {} ({})",
        connection.api_url, connection.key.id, connection.key.kind
    );
    let failed = |message: String| super::ConnectionTest { ok: false, message };
    let client = match cortex_cloud_client::CortexClient::new(interactive_config(
        connection,
        extra_ca_pem,
    )) {
        Ok(c) => c,
        Err(e) => return failed(format!("{what}: {e}")),
    };
    if let Err(e) = client.validate_key().await {
        return failed(format!("{what}: the key was not accepted: {e}"));
    }
    match client.approved_tenants(None).await {
        Ok(tenants) => {
            let approved: Vec<&str> = tenants
                .iter()
                .filter(|t| t.is_still_approved)
                .map(|t| t.tenant_id.as_str())
                .collect();
            let tenants = match approved.as_slice() {
                [] => {
                    "no Azure tenant has approved the Cortex Cloud application yet (a tenant admin \
                       approves it in the console's Azure onboarding wizard, Select or approve \
                       your Microsoft Azure tenant, before its first onboarding)"
                        .to_owned()
                }
                [one] => format!("1 approved Azure tenant: {one}"),
                many => format!("{} approved Azure tenants: {}", many.len(), many.join(", ")),
            };
            super::ConnectionTest {
                ok: true,
                message: format!(
                    "{what}: key accepted; the Cloud Onboarding API answers, {tenants}. The \
                     key's expiry is in the Expiration column of Settings, Configurations, API \
                     Keys (the API does not report it)"
                ),
            }
        }
        Err(e) => failed(format!(
            "{what}: the key is valid, but the Cloud Onboarding API refused it: {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        api_url: Option<&str>,
        key_id: Option<&str>,
        key: Option<&str>,
        key_type: Option<&str>,
    ) -> Result<CortexConnection, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let key = key.map(SecretString::from);
        let c = parse(api_url, key_id, key.as_ref(), key_type, &mut |f, m| {
            problems.push((f.to_owned(), m))
        });
        match c {
            Some(c) if problems.is_empty() => Ok(c),
            _ => Err(problems),
        }
    }

    const KEY: &str = "CANARY-CORTEX-KEY-0123456789";

    #[test]
    fn the_fields_parse_into_the_clients_types() {
        let c = check(
            Some("https://acme.xdr.us.paloaltonetworks.com/"),
            Some(" 42 "),
            Some(KEY),
            Some("Standard"),
        )
        .unwrap();
        assert_eq!(
            c.api_url.as_str(),
            "https://api-acme.xdr.us.paloaltonetworks.com"
        );
        assert_eq!(c.key.id.get(), 42);
        assert_eq!(c.key.kind, KeyType::Standard);
        assert_eq!(c.key.key.expose(), KEY);
        let c = check(Some("http://127.0.0.1:9"), Some("7"), Some(KEY), None).unwrap();
        assert_eq!(c.key.kind, KeyType::Advanced, "the SDK's default");
        assert!(!format!("{c:?}").contains("CANARY"));
    }

    #[test]
    fn every_bad_field_is_named_and_no_value_quoted() {
        let e = check(None, None, None, None).unwrap_err();
        let fields: Vec<_> = e.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["api_url", "key_id", "key"]);
        let e = check(
            Some("http://api-acme.xdr.us.paloaltonetworks.com"),
            Some("0"),
            Some("short CANARY"),
            Some("CANARY-type"),
        )
        .unwrap_err();
        let fields: Vec<_> = e.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["api_url", "key_id", "key_type", "key"]);
        for bad_id in ["-1", "4.2", "CANARY-KEY", "12345678901234567890"] {
            let e = check(Some("http://127.0.0.1:9"), Some(bad_id), Some(KEY), None).unwrap_err();
            assert_eq!(e[0].0, "key_id", "{bad_id}");
        }
        assert!(
            !format!("{e:?}").contains("CANARY"),
            "no value quoted: {e:?}"
        );
    }
}
