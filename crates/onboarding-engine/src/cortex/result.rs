//! What a Cortex Cloud job reports: its result once it succeeded ([`CortexJobResult`], the
//! job's `result` JSON), and the states it passes through on the way (the events
//! [`crate::EngineEvent::CortexInstance`] and `capability_status`).
//!
//! Readers (the job page, the CLI, the API's job view) read `job.result` with
//! [`CortexJobResult::of`]; it is `None` for a Prisma Cloud job or one not finished.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The job kind of every Cortex Cloud onboarding (Prisma Cloud's are `onboard_{scope}`).
pub const CORTEX_JOB_KIND: &str = "cortex_onboarding";

/// A capability as the job last saw it (`get_instance_details`' `security_capabilities`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CortexCapabilityState {
    /// Cortex's name (`ADS`, `DSPM`, `AUDIT_LOGS`, …).
    pub name: String,
    /// `connected` | `warning` | `disabled` | `error` | `retrieving`.
    pub status: String,
    /// Cortex's status code (0 connected, 1 warning, 2 disabled, 3 error, 4 retrieving).
    pub code: i64,
    /// Cortex's text for a warning or error, kept as given; empty otherwise.
    pub message: String,
    /// What to do about a warning or error (empty when connected or disabled).
    pub remediation: String,
}

/// One account (subscription) the instance covers (`get_accounts`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CortexAccount {
    /// The Azure subscription ID.
    pub account_id: String,
    pub name: String,
    pub status: String,
    /// Cortex's account type (`ACCOUNT`, …).
    pub kind: String,
}

/// A succeeded Cortex Cloud job's `result`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CortexJobResult {
    /// Always `cortex`.
    pub platform: String,
    /// The connected instance the template's callback created.
    pub instance_id: String,
    /// The pending instance the job created (its tracking GUID).
    pub pending_instance_id: String,
    pub instance_name: String,
    /// The instance's overall status: `CONNECTED`, `WARNING`, `ERROR`, …
    pub status: String,
    /// `tenant` | `management_group` | `subscription`.
    pub scope: String,
    pub capabilities: Vec<CortexCapabilityState>,
    pub accounts: Vec<CortexAccount>,
    /// How many accounts Cortex reports (`accounts` holds at most the first 1,000).
    pub accounts_total: u64,
    /// The template bundle's MD5 (hex) as checked on download.
    pub template_md5: String,
    /// How long each step took in the run that finished the job.
    pub step_ms: BTreeMap<String, u64>,
}

impl CortexJobResult {
    /// The result of a succeeded Cortex Cloud job; `None` for anything else.
    pub fn of(result: Option<&serde_json::Value>) -> Option<Self> {
        let value = result?;
        if value.get("platform")?.as_str()? != "cortex" {
            return None;
        }
        serde_json::from_value(value.clone()).ok()
    }
}
