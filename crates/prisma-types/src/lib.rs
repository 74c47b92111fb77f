//! The shared vocabulary of azure-cortex and the Prisma Cloud CSPM API.
//!
//! * [`ids`] — Azure and Prisma identifiers, parsed once at the edge into types that carry the
//!   guarantee (`SubscriptionId::parse` refuses braced, URN and 32-digit GUIDs).
//! * [`secret`] — [`SecretString`], a value that never shows itself through `Debug`, `Display`,
//!   serde or tracing; only the wire models expose it, explicitly.
//! * [`feature`] — the Azure capabilities ("Agentless Scanning", …) and environments.
//! * [`account`] — validated onboarding requests for the three Azure shapes (subscription,
//!   tenant with management groups, Entra-ID-only tenant), converted to the wire body.
//! * [`wire`] — request and response bodies with the exact field names of the API
//!   (`../shared/reference/prisma-api.md`). The client sends and reads them; the emulator reads
//!   and sends them. Wire models keep raw strings so the emulator can answer bad input with the
//!   documented i18n keys instead of a deserialization error.

pub mod account;
pub mod feature;
pub mod ids;
/// Re-exported from `platform-secret`, which both platforms' crates share.
pub use platform_secret as secret;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod wire;

pub use account::{
    AccountScope, AzureAccount, AzureCredentials, EntraTenant, HierarchyEntry, SelectionType,
    Subscription, TenantWithGroups,
};
pub use feature::{Environment, Feature, FeatureSet};
pub use ids::{AccountGroupId, AccountName, ManagementGroupId, ObjectId, SubscriptionId, TenantId};
pub use platform_secret::{SecretString, ValidationError};
