//! Where the client talks to and with which key: stacks, base URLs, credentials, timeouts,
//! retry and pacing settings — from code or from the environment.

use std::time::Duration;

use prisma_types::SecretString;
use url::Url;

use crate::error::Error;
use crate::ratelimit::PacingConfig;
use crate::retry::RetryPolicy;
pub use platform_http::transport::{DEFAULT_MAX_IN_FLIGHT, Timeouts};

/// The Prisma Cloud stacks and their API hosts.
pub const STACKS: [(&str, &str); 16] = [
    ("api", "api.prismacloud.io"),
    ("api2", "api2.prismacloud.io"),
    ("api3", "api3.prismacloud.io"),
    ("api4", "api4.prismacloud.io"),
    ("anz", "api.anz.prismacloud.io"),
    ("eu", "api.eu.prismacloud.io"),
    ("eu2", "api2.eu.prismacloud.io"),
    ("gov", "api.gov.prismacloud.io"),
    ("cn", "api.prismacloud.cn"),
    ("ca", "api.ca.prismacloud.io"),
    ("sg", "api.sg.prismacloud.io"),
    ("uk", "api.uk.prismacloud.io"),
    ("ind", "api.ind.prismacloud.io"),
    ("jp", "api.jp.prismacloud.io"),
    ("fr", "api.fr.prismacloud.io"),
    ("id", "api.id.prismacloud.io"),
];

/// A validated API base URL: https, or http only to a loopback host or when explicitly allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl(Url);

impl BaseUrl {
    /// Accepts a stack name (`api2`, `eu`, …), a host (`api2.prismacloud.io`, as the Terraform
    /// provider takes it), or a URL. The console host (`app…`) is translated to its API host.
    pub fn parse(input: &str, allow_insecure_http: bool) -> Result<Self, Error> {
        let s = input.trim().trim_end_matches('/');
        if s.is_empty() {
            return Err(Error::config(
                "api_url",
                "is empty; give a stack name or a URL",
            ));
        }
        if let Some((_, host)) = STACKS.iter().find(|(name, _)| name.eq_ignore_ascii_case(s)) {
            return Ok(Self(
                Url::parse(&format!("https://{host}")).expect("static URL"),
            ));
        }
        let with_scheme = if s.contains("://") {
            s.to_owned()
        } else {
            format!("https://{s}")
        };
        let mut url = Url::parse(&with_scheme).map_err(|e| {
            Error::config(
                "api_url",
                format!("is not a stack name ({}) nor a URL: {e}", stack_names()),
            )
        })?;
        let host = url.host_str().unwrap_or_default().to_owned();
        if host.is_empty() {
            return Err(Error::config("api_url", "has no host"));
        }
        if let Some(rest) = host.strip_prefix("app")
            && (host.ends_with(".prismacloud.io") || host.ends_with(".prismacloud.cn"))
        {
            // The console URL was pasted: app2.eu.prismacloud.io → api2.eu.prismacloud.io.
            let _ = url.set_host(Some(&format!("api{rest}")));
        }
        match url.scheme() {
            "https" => {}
            "http" => {
                let loopback = match url.host() {
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    Some(url::Host::Domain(d)) => d == "localhost",
                    None => false,
                };
                if !loopback && !allow_insecure_http {
                    return Err(Error::config(
                        "api_url",
                        "plain http is refused except to a loopback address; use https \
                         (or opt in with allow_insecure_http)",
                    ));
                }
            }
            other => {
                return Err(Error::config(
                    "api_url",
                    format!("unsupported scheme '{other}'"),
                ));
            }
        }
        if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err(Error::config(
                "api_url",
                "must not carry credentials or a query",
            ));
        }
        Ok(Self(url))
    }

    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// Joins an absolute API path (`/cas/v1/azure_account`) to the base.
    pub fn join(&self, path: &str) -> Url {
        let mut url = self.0.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}{path}"));
        url
    }
}

impl std::fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str().trim_end_matches('/'))
    }
}

fn stack_names() -> String {
    STACKS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// An access key and, for multi-tenant users, the tenant to use.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_key: SecretString,
    pub customer_name: Option<String>,
    pub prisma_id: Option<String>,
}

impl Credentials {
    pub fn new(access_key_id: impl Into<String>, secret_key: impl Into<SecretString>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_key: secret_key.into(),
            customer_name: None,
            prisma_id: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub base_url: BaseUrl,
    pub credentials: Credentials,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
    pub pacing: PacingConfig,
    /// Extra trusted CA (PEM), e.g. the emulator's `--ca-cert-out` file.
    pub extra_ca_pem: Option<String>,
    /// The most requests in flight at once; calls past it wait for a free slot (see
    /// `platform_http::transport`). Default [`DEFAULT_MAX_IN_FLIGHT`].
    pub max_in_flight: usize,
}

impl ClientConfig {
    pub fn new(base_url: BaseUrl, credentials: Credentials) -> Self {
        Self {
            base_url,
            credentials,
            timeouts: Timeouts {
                connect: Duration::from_secs(10),
                request: Duration::from_secs(60),
            },
            retry: RetryPolicy::default(),
            pacing: PacingConfig::default(),
            extra_ca_pem: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }

    /// Reads `PRISMA_API_URL`, `PRISMA_ACCESS_KEY_ID`, `PRISMA_SECRET_KEY`,
    /// `PRISMA_CUSTOMER_NAME` (falling back to the Terraform provider's `PRISMACLOUD_URL`,
    /// `PRISMACLOUD_USERNAME`, `PRISMACLOUD_PASSWORD`, `PRISMACLOUD_CUSTOMER_NAME`),
    /// `PRISMA_ALLOW_HTTP=1` and `PRISMA_CA_CERT` (a PEM file path).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`Self::from_env`] over any lookup, for tests.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let pick = |ours: &str, theirs: &str| {
            get(ours)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (ours.to_owned(), v))
                .or_else(|| {
                    get(theirs)
                        .filter(|v| !v.trim().is_empty())
                        .map(|v| (theirs.to_owned(), v))
                })
        };
        let (_, url) = pick("PRISMA_API_URL", "PRISMACLOUD_URL").ok_or_else(|| {
            Error::config(
                "PRISMA_API_URL",
                "is not set (nor PRISMACLOUD_URL); e.g. api2 or https://api2.prismacloud.io",
            )
        })?;
        let allow_http = get("PRISMA_ALLOW_HTTP").is_some_and(|v| v == "1" || v == "true");
        let base_url = BaseUrl::parse(&url, allow_http)?;
        let (_, key_id) =
            pick("PRISMA_ACCESS_KEY_ID", "PRISMACLOUD_USERNAME").ok_or_else(|| {
                Error::config(
                    "PRISMA_ACCESS_KEY_ID",
                    "is not set (nor PRISMACLOUD_USERNAME)",
                )
            })?;
        let (_, secret) = pick("PRISMA_SECRET_KEY", "PRISMACLOUD_PASSWORD").ok_or_else(|| {
            Error::config("PRISMA_SECRET_KEY", "is not set (nor PRISMACLOUD_PASSWORD)")
        })?;
        let mut credentials = Credentials::new(key_id.trim(), SecretString::from(secret));
        credentials.customer_name =
            pick("PRISMA_CUSTOMER_NAME", "PRISMACLOUD_CUSTOMER_NAME").map(|(_, v)| v);
        let mut config = Self::new(base_url, credentials);
        if let Some(path) = get("PRISMA_CA_CERT").filter(|p| !p.is_empty()) {
            let pem = std::fs::read_to_string(&path)
                .map_err(|e| Error::config("PRISMA_CA_CERT", format!("cannot read {path}: {e}")))?;
            config.extra_ca_pem = Some(pem);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stack_resolves_to_https() {
        for (name, host) in STACKS {
            let url = BaseUrl::parse(name, false).unwrap();
            assert_eq!(url.to_string(), format!("https://{host}"));
        }
    }

    #[test]
    fn urls_hosts_and_console_links() {
        assert_eq!(
            BaseUrl::parse("api2.prismacloud.io", false)
                .unwrap()
                .to_string(),
            "https://api2.prismacloud.io"
        );
        assert_eq!(
            BaseUrl::parse("https://app.eu.prismacloud.io/", false)
                .unwrap()
                .to_string(),
            "https://api.eu.prismacloud.io"
        );
        assert_eq!(
            BaseUrl::parse("http://127.0.0.1:8443", false)
                .unwrap()
                .to_string(),
            "http://127.0.0.1:8443"
        );
        assert!(BaseUrl::parse("http://localhost:1", false).is_ok());
        assert!(BaseUrl::parse("http://[::1]:1", false).is_ok());
        let err = BaseUrl::parse("http://api.prismacloud.io", false).unwrap_err();
        assert!(err.to_string().contains("plain http"), "{err}");
        assert!(BaseUrl::parse("http://10.0.0.5", true).is_ok());
        assert!(BaseUrl::parse("ftp://x", false).is_err());
        assert!(BaseUrl::parse("https://user:pw@api.prismacloud.io", false).is_err());
        assert!(BaseUrl::parse("", false).is_err());
    }

    #[test]
    fn environment_names_of_both_conventions() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = ClientConfig::from_lookup(env(&[
            ("PRISMACLOUD_URL", "api3.prismacloud.io"),
            ("PRISMACLOUD_USERNAME", "AK"),
            ("PRISMACLOUD_PASSWORD", "SK"),
            ("PRISMACLOUD_CUSTOMER_NAME", "acme"),
        ]))
        .unwrap();
        assert_eq!(c.base_url.to_string(), "https://api3.prismacloud.io");
        assert_eq!(c.credentials.customer_name.as_deref(), Some("acme"));
        assert_eq!(c.credentials.secret_key.expose(), "SK");
        let c = ClientConfig::from_lookup(env(&[
            ("PRISMA_API_URL", "eu"),
            ("PRISMACLOUD_URL", "api3.prismacloud.io"),
            ("PRISMA_ACCESS_KEY_ID", "AK"),
            ("PRISMA_SECRET_KEY", "SK"),
        ]))
        .unwrap();
        assert_eq!(c.base_url.to_string(), "https://api.eu.prismacloud.io");
        let err = ClientConfig::from_lookup(env(&[("PRISMA_API_URL", "eu")])).unwrap_err();
        assert!(err.to_string().contains("PRISMA_ACCESS_KEY_ID"));
        assert!(!format!("{c:?}").contains("SK\""), "secret in Debug: {c:?}");
    }
}
