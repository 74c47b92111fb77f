//! The Cortex face's settings: API keys, approved tenants, lifetimes, the advanced-key window.

use std::time::Duration;

use cortex_cloud_types::{KeyId, KeyType, SecretString};

/// An API key the emulator accepts.
#[derive(Clone, Debug)]
pub struct CortexKey {
    pub id: KeyId,
    pub key: SecretString,
    pub kind: KeyType,
}

#[derive(Clone, Debug)]
pub struct CortexConfig {
    pub keys: Vec<CortexKey>,
    /// Entra tenant ids that approved the Cortex application (lower-case GUIDs). Creating an
    /// instance for any other tenant is refused with 422 naming
    /// `account_details.organization_id`.
    pub approved_tenants: Vec<String>,
    /// Pending instances not used within this long disappear (Cortex: 30 days).
    pub pending_ttl: Duration,
    /// Template links stay valid this long (Cortex: 7 days).
    pub link_ttl: Duration,
    /// An advanced key's `x-xdr-timestamp` may differ from the emulator's clock by this much;
    /// a nonce may be used once within it.
    pub auth_window: Duration,
    /// The origin template links point at (the emulator's own URL as clients reach it). When
    /// unset, links use the request's `Host` header, with the listener's scheme.
    pub public_url: Option<String>,
    /// After the template's callback, the chosen capabilities move from 4 (retrieving) to
    /// their final codes one after another over this long (`callback.rs`).
    pub capability_delay: Duration,
}

/// The demo tenant approved by default (the sandbox's tenant).
pub const DEMO_TENANT: &str = "0091a7ea-5021-42d3-a276-18004980b42b";

impl CortexConfig {
    /// One key, the demo tenant approved, Cortex's lifetimes.
    pub fn new(id: KeyId, key: SecretString, kind: KeyType) -> Self {
        Self {
            keys: vec![CortexKey { id, key, kind }],
            approved_tenants: vec![DEMO_TENANT.to_owned()],
            pending_ttl: Duration::from_secs(30 * 24 * 3600),
            link_ttl: Duration::from_secs(7 * 24 * 3600),
            auth_window: Duration::from_secs(300),
            public_url: None,
            capability_delay: super::callback::DEFAULT_CAPABILITY_DELAY,
        }
    }

    pub fn key(&self, id: KeyId) -> Option<&CortexKey> {
        self.keys.iter().find(|k| k.id == id)
    }
}

impl Default for CortexConfig {
    /// No key at all: every Cortex request is refused until keys are configured.
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            ..Self::new(
                KeyId::new(1).expect("1 is a valid key id"),
                SecretString::from(""),
                KeyType::Advanced,
            )
        }
    }
}
