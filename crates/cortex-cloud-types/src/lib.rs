//! The shared vocabulary of the Cortex Cloud Cloud Onboarding API
//! (`../shared/reference/cortex-cloud-api.md`), used by `cortex-cloud-client` and the
//! emulator's Cortex face.
//!
//! * [`key`] — the API URL (a console URL is accepted and `https://api-{fqdn}` derived), the key
//!   id, the key type (standard | advanced) and the key itself, a [`SecretString`].
//! * [`enums`] — scopes, scan modes, capabilities, statuses and the other closed value sets,
//!   spelled as on the wire.
//! * [`envelope`] — `{"request_data": …}` / `{"reply": …}` and the error reply
//!   (`err_code`, `err_msg`, `err_extra` with its field-naming validation items).
//! * [`filter`] — the `filter_data` DSL: criteria, AND/OR groups, sort and paging.
//! * [`wire`] — every onboarding endpoint's request and reply, with the contradictions between
//!   sources (§13) handled as the fact sheet recommends: `id` sent, `instance_id` accepted;
//!   configuration fields read as JSON strings or objects; timestamps in seconds or ms.
//! * [`lenient`] — the deserializers behind those tolerances.

pub mod enums;
pub mod envelope;
pub mod filter;
pub mod key;
pub mod lenient;
pub mod wire;

pub use enums::{
    AuditCollectionMethod, CapabilityName, CapabilityStatus, CloudPartition, CloudProvider,
    InstanceStatus, ModificationType, RegistryScanType, ScanMode, Scope,
};
pub use envelope::{ErrCode, ErrExtra, ErrorReply, FieldError, Reply, Request};
pub use filter::{Criterion, FilterData, FilterNode, Paging, SearchType, Sort, SortOrder};
pub use key::{ApiKey, ApiUrl, KeyId, KeyType};
pub use platform_secret::{SecretString, ValidationError};

/// Lower-case 32-hex-digit id, the shape of instance ids, tracking GUIDs and outpost ids.
pub fn is_instance_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
