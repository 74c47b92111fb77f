//! Where the API is, which key to use, and how patient to be.

use std::time::Duration;

use cortex_cloud_types::{ApiKey, ApiUrl, KeyId, KeyType, SecretString, ValidationError};
pub use platform_http::transport::{DEFAULT_MAX_IN_FLIGHT, Timeouts};
use platform_http::{PacingConfig, RetryPolicy};

pub const ENV_API_URL: &str = "CORTEXCLOUD_API_URL";
pub const ENV_API_KEY_ID: &str = "CORTEXCLOUD_API_KEY_ID";
pub const ENV_API_KEY: &str = "CORTEXCLOUD_API_KEY";
pub const ENV_API_KEY_TYPE: &str = "CORTEXCLOUD_API_KEY_TYPE";

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub api_url: ApiUrl,
    pub key: ApiKey,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
    /// Cortex publishes no limits: pacing defaults to 10 requests/s per endpoint (a burst of
    /// 10) so bulk runs stay polite; the server's 429s still correct it.
    pub pacing: PacingConfig,
    /// Extra trusted CA (PEM), e.g. the emulator's generated one.
    pub extra_ca_pem: Option<String>,
    /// The most requests in flight at once; calls past it wait for a free slot (see
    /// `platform_http::transport`). Default [`DEFAULT_MAX_IN_FLIGHT`].
    pub max_in_flight: usize,
}

impl ClientConfig {
    pub fn new(api_url: ApiUrl, key: ApiKey) -> Self {
        Self {
            api_url,
            key,
            timeouts: Timeouts {
                connect: Duration::from_secs(10),
                // One attempt, answer included: the official SDK's 30 s.
                request: Duration::from_secs(30),
            },
            retry: RetryPolicy {
                max_attempts: 4,
                base_delay: Duration::from_millis(500),
                max_delay: Duration::from_secs(60),
                max_retry_after: Duration::from_secs(60),
                call_deadline: Duration::from_secs(300),
            },
            pacing: PacingConfig::uniform(10.0, 10),
            extra_ca_pem: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }

    /// From raw strings (a form, flags): each refused value names its field.
    pub fn parse(
        api_url: &str,
        key_id: &str,
        key: SecretString,
        key_type: &str,
    ) -> Result<Self, ValidationError> {
        let url = ApiUrl::parse(api_url)?;
        let id: KeyId = key_id.parse()?;
        let kind: KeyType = key_type.parse()?;
        Ok(Self::new(url, ApiKey::new(id, key, kind)?))
    }

    /// From the official SDK's environment variables; the key type defaults to advanced, as
    /// there. A missing or bad variable is named.
    pub fn from_env() -> Result<Self, ValidationError> {
        let var =
            |name: &str| std::env::var(name).map_err(|_| ValidationError::new(name, "is not set"));
        let key_type = std::env::var(ENV_API_KEY_TYPE).unwrap_or_else(|_| "advanced".into());
        let rename = |e: ValidationError, name: &str| ValidationError::new(name, e.message);
        let url = ApiUrl::parse(&var(ENV_API_URL)?).map_err(|e| rename(e, ENV_API_URL))?;
        let id: KeyId = var(ENV_API_KEY_ID)?
            .parse()
            .map_err(|e| rename(e, ENV_API_KEY_ID))?;
        let kind: KeyType = key_type.parse().map_err(|e| rename(e, ENV_API_KEY_TYPE))?;
        let key = ApiKey::new(id, SecretString::from(var(ENV_API_KEY)?), kind)
            .map_err(|e| rename(e, ENV_API_KEY))?;
        Ok(Self::new(url, key))
    }
}
