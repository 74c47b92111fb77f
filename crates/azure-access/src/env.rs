//! The environment the providers read, as a value (tests pass their own; the product reads
//! the process's once), and the Azure endpoints.

use std::collections::BTreeMap;

use url::Url;

/// Environment variables by name.
#[derive(Clone, Debug, Default)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    pub fn from_process() -> Self {
        Self(std::env::vars().collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.0.insert(key.to_owned(), value.into());
    }

    /// A non-empty value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// `true`/`1` as Terraform's boolean environment variables read them.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }

    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }

    /// `PATH`, for the `az` lookup.
    pub fn path(&self) -> Option<&str> {
        self.get("PATH")
    }
}

/// The default managed-identity endpoint on Azure VMs (IMDS).
pub const IMDS: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

/// Where the tokens, ARM and Graph are. Public cloud by default; `AZURE_CORTEX_AZURE_ENDPOINT`
/// points all three at one base URL (the emulated Azure), or each separately with
/// `AZURE_AUTHORITY_HOST` (the Azure SDKs' name), `AZURE_CORTEX_ARM_ENDPOINT`,
/// `AZURE_CORTEX_GRAPH_ENDPOINT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub authority_host: Url,
    pub arm: Url,
    pub graph: Url,
    /// The token audiences, which stay the public cloud's resource identifiers when the
    /// endpoints are emulated.
    pub arm_resource: String,
    pub graph_resource: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{name}: not a URL ({value})")]
pub struct EndpointError {
    pub name: &'static str,
    pub value: String,
}

fn parse(name: &'static str, value: &str) -> Result<Url, EndpointError> {
    let with_slash = if value.ends_with('/') {
        value.to_owned()
    } else {
        format!("{value}/")
    };
    Url::parse(&with_slash).map_err(|_| EndpointError {
        name,
        value: value.to_owned(),
    })
}

impl Endpoints {
    pub fn public() -> Self {
        Self::at(
            "https://login.microsoftonline.com/",
            "https://management.azure.com/",
            "https://graph.microsoft.com/",
        )
        .expect("static URLs")
    }

    fn at(authority: &str, arm: &str, graph: &str) -> Result<Self, EndpointError> {
        Ok(Self {
            authority_host: parse("AZURE_AUTHORITY_HOST", authority)?,
            arm: parse("AZURE_CORTEX_ARM_ENDPOINT", arm)?,
            graph: parse("AZURE_CORTEX_GRAPH_ENDPOINT", graph)?,
            arm_resource: "https://management.azure.com/".into(),
            graph_resource: "https://graph.microsoft.com/".into(),
        })
    }

    /// Everything at one base URL (the emulated Azure).
    pub fn emulated(base: &str) -> Self {
        Self::at(base, base, base).unwrap_or_else(|_| Self::public())
    }

    pub fn from_env(env: &Env) -> Result<Self, EndpointError> {
        let mut e = Self::public();
        if let Some(base) = env.get("AZURE_CORTEX_AZURE_ENDPOINT") {
            let url = parse("AZURE_CORTEX_AZURE_ENDPOINT", base)?;
            e.authority_host = url.clone();
            e.arm = url.clone();
            e.graph = url;
        }
        if let Some(v) = env.get("AZURE_AUTHORITY_HOST") {
            e.authority_host = parse("AZURE_AUTHORITY_HOST", v)?;
        }
        if let Some(v) = env.get("AZURE_CORTEX_ARM_ENDPOINT") {
            e.arm = parse("AZURE_CORTEX_ARM_ENDPOINT", v)?;
        }
        if let Some(v) = env.get("AZURE_CORTEX_GRAPH_ENDPOINT") {
            e.graph = parse("AZURE_CORTEX_GRAPH_ENDPOINT", v)?;
        }
        Ok(e)
    }

    /// The v2.0 token endpoint of `tenant`.
    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}{tenant}/oauth2/v2.0/token", self.authority_host)
    }
}
