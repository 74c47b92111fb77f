//! Azure as Terraform's azurerm/azuread providers reach it, checked before any Terraform runs.
//!
//! * [`env`] — the environment the providers read (`ARM_*`, GitHub's
//!   `ACTIONS_ID_TOKEN_REQUEST_*`, AKS's `AZURE_FEDERATED_TOKEN_FILE`, the managed-identity
//!   endpoints) and the endpoints (authority host, ARM, Graph), configurable so tests and the
//!   sandbox use the emulated Azure (`azure-emulator`'s `cloud` face).
//! * [`credentials`] — which method the providers would use, a token obtained the way they
//!   obtain it, and who it belongs to (tenant, principal, subscription); a method that is
//!   configured but yields no token is a [`credentials::CredentialError`] with the reason and
//!   the fix.
//! * [`privileges`] — what the chosen scope, features and identity source need (Azure roles
//!   at the scope, Entra directory roles), compared with what the caller holds, in words.
//! * [`discovery`] — the tenant's management-group tree with its subscriptions.
//!
//! `azure-cortex doctor` and the job's prerequisites both call [`credentials::check`] and
//! [`privileges::check`]: one implementation.
//!
//! Why not the Azure SDK for Rust's `azure_identity` (1.1.0-beta.1, evaluated): its IMDS
//! endpoint is a constant (`169.254.169.254`), so the managed-identity method could not be
//! pointed at an emulator (the providers honour `ARM_MSI_ENDPOINT`); its certificate
//! credential needs OpenSSL (a second TLS/crypto stack beside aws-lc); and the providers'
//! method order and environment variables are Terraform's, not the SDK's, so the detection
//! would be ours anyway. Each flow here is one HTTP exchange against Entra's documented
//! endpoints; the CLI method runs `az account get-access-token`, as the providers do.

pub mod coverage;
pub mod credentials;
pub mod discovery;
pub mod env;
mod http;
pub mod privileges;
pub mod readiness;

pub use credentials::{CredentialError, Identity, Method, check};
pub use env::{Endpoints, Env};
pub use readiness::{NotReady, Ready, ready};
