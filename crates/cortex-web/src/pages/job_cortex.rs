//! The job page's Cortex Cloud section (`job_cortex.html`), for a job of kind
//! `cortex_onboarding`: what is onboarded in Cortex's words, the instance (the pending one the
//! job created, then the one the template's callback created, with its status and a link to
//! `/instances/{id}`), the authentication template (its kind, the MD5 checked on download,
//! until when its link is valid — never the link itself: a signed URL is a credential), the
//! wait for the callback (since when, until when) and the accounts the instance covers. Each
//! capability's status and Cortex's text for a warning or an error are the page's shared
//! Capabilities card.
//!
//! Everything comes from what the job stored: its request, its steps' checkpoints and times,
//! its events and, once it succeeded, its result ([`CortexJobResult::of`]). The section is
//! live: `cortex-job.js` renders it again from this page when a Cortex event or one of its
//! steps arrives on the job's event stream, so the server's markup is the only one.

use cortex_store::{JobRecord, StepRecord, StoredEvent};
use onboarding_engine::cortex::{CortexAccount, CortexJobResult, CortexRequest};
use time::{Duration, OffsetDateTime};

use super::job_view::Fact;
use super::{Badge, url_encode, when};
use crate::pages::cortex_words::status_badge;

/// How long a template link stays valid after Cortex issues it (fact sheet section 8.1: 7 days).
pub const LINK_VALIDITY: Duration = Duration::days(7);
/// At most this many accounts are listed on the page (the instance page has them all).
pub const ACCOUNTS_SHOWN: usize = 50;

/// The instance the job is about.
pub struct InstanceView {
    pub id: String,
    pub status: Badge,
    /// `/instances/{id}?connection=…`.
    pub href: String,
    /// Still the pending instance (the template has not called back yet).
    pub pending: bool,
}

/// The authentication template as the job downloaded it.
pub struct TemplateView {
    pub kind: &'static str,
    pub md5: String,
    /// Until when the link the job holds is valid.
    pub link_expires: String,
    /// The first link had expired and Cortex issued a new one.
    pub reissued: bool,
}

/// The wait for the template's callback.
pub struct CallbackView {
    pub state: Badge,
    /// `waiting` | `received` | `timed_out` | `not_started`, for the script and tests.
    pub key: &'static str,
    pub since: String,
    pub deadline: String,
    pub received: String,
}

pub struct CortexSection {
    pub connection: String,
    pub pending_instance_id: String,
    pub instance: Option<InstanceView>,
    pub template: Option<TemplateView>,
    pub callback: CallbackView,
    pub accounts: Vec<CortexAccount>,
    pub accounts_total: u64,
    /// Accounts not listed here (see the instance page).
    pub accounts_more: u64,
    /// Whether the accounts were read yet.
    pub accounts_read: bool,
}

fn step<'a>(steps: &'a [StepRecord], name: &str) -> Option<&'a StepRecord> {
    steps.iter().rev().find(|s| s.name == name)
}

fn output(steps: &[StepRecord], name: &str, field: &str) -> Option<String> {
    step(steps, name)
        .and_then(|s| s.output.as_ref())
        .and_then(|o| o[field].as_str())
        .map(str::to_owned)
}

/// The latest `cortex_instance` event: the instance and its status as the job last saw them.
fn last_instance(events: &[StoredEvent]) -> Option<(String, String)> {
    events
        .iter()
        .rev()
        .find(|e| e.event["type"] == "cortex_instance")
        .map(|e| {
            let text = |k: &str| e.event[k].as_str().unwrap_or_default().to_owned();
            (text("instance_id"), text("status"))
        })
}

/// The request in Cortex Cloud's words, for the page's "What is being onboarded".
pub fn facts_of(r: &CortexRequest) -> Vec<Fact> {
    let mut facts = Vec::new();
    let mut fact = |label: &'static str, value: String| facts.push(Fact { label, value });
    let scope = match r.scope {
        azure_config::cortex::CortexScope::Tenant => "A tenant (ORGANIZATION)",
        azure_config::cortex::CortexScope::ManagementGroup => "A management group (ACCOUNT_GROUP)",
        azure_config::cortex::CortexScope::Subscription => "One subscription (ACCOUNT)",
    };
    fact("Platform", "Cortex Cloud".into());
    fact("Scope", scope.into());
    fact("Tenant id", r.tenant_id.to_string());
    if let Some(mg) = &r.management_group_id {
        fact("Management group", mg.to_string());
    }
    fact(
        match r.scope {
            azure_config::cortex::CortexScope::Subscription => "Subscription id",
            _ => "Hosting subscription",
        },
        r.subscription_id.to_string(),
    );
    if let Some(f) = &r.subscriptions {
        let ids: Vec<String> = f.ids.iter().map(ToString::to_string).collect();
        fact(
            "Subscriptions",
            format!(
                "{} {}",
                f.mode.as_str().to_ascii_lowercase(),
                ids.join(", ")
            ),
        );
    }
    if let Some(f) = &r.regions {
        fact(
            "Regions",
            format!(
                "{} {}",
                f.mode.as_str().to_ascii_lowercase(),
                f.ids.join(", ")
            ),
        );
    }
    let mut caps = vec!["Discovery (always on)".to_owned()];
    let c = &r.capabilities;
    for (on, name) in [
        (c.agentless_disk_scanning, "Agentless Disk Scanning"),
        (
            c.data_security_posture_management,
            "Data Security Posture Management",
        ),
        (c.registry_scanning, "Registry Scanning"),
        (c.serverless_scanning, "Serverless Scanning"),
        (r.xsiam_analytics, "XSIAM analytics"),
    ] {
        if on {
            caps.push(name.to_owned());
        }
    }
    fact("Capabilities", caps.join(", "));
    fact(
        "Audit logs",
        if r.audit_logs.enabled {
            "collected".into()
        } else {
            "off".into()
        },
    );
    fact(
        "Scan mode",
        match &r.outpost_id {
            Some(o) => format!("outpost {o}"),
            None => "managed by Cortex Cloud".into(),
        },
    );
    fact(
        "Plan review",
        if r.require_approval {
            "stops after the template's plan until approved"
        } else {
            "applies without stopping"
        }
        .into(),
    );
    fact("Cortex Cloud connection", r.connection.as_str().to_owned());
    facts
}

impl CortexSection {
    /// The section of the Cortex Cloud job `job`; `callback_timeout` is how long the engine
    /// waits for the template's callback.
    pub fn of(
        job: &JobRecord,
        request: &CortexRequest,
        steps: &[StepRecord],
        events: &[StoredEvent],
        callback_timeout: std::time::Duration,
    ) -> Self {
        let connection = request.connection.as_str().to_owned();
        let done = CortexJobResult::of(job.result.as_ref());
        let pending = output(steps, "create_instance", "pending_instance_id").unwrap_or_default();
        let connected = output(steps, "await_connection", "instance_id");
        let instance = match (&done, last_instance(events)) {
            (Some(d), _) => Some((d.instance_id.clone(), d.status.clone())),
            (None, Some(seen)) => Some(seen),
            (None, None) => connected.map(|id| (id, String::new())),
        }
        .filter(|(id, _)| !id.is_empty())
        .map(|(id, status)| InstanceView {
            href: format!("/instances/{id}?connection={}", url_encode(&connection)),
            pending: id == pending,
            status: status_badge(&status),
            id,
        });
        let template = step(steps, "download_template")
            .filter(|s| s.state == "succeeded")
            .and_then(|s| {
                let out = s.output.as_ref()?;
                let reissued = out["reissued"].as_bool().unwrap_or(false);
                // The link was issued with the pending instance, or again during the download.
                let issued = if reissued {
                    Some(s.started_at)
                } else {
                    step(steps, "create_instance").and_then(|c| c.finished_at)
                }?;
                Some(TemplateView {
                    kind: if out["configuration"].as_str() == Some("twin/main.tf.json") {
                        "Terraform module (the sandbox applies its terraform_data twin)"
                    } else {
                        "Terraform module"
                    },
                    md5: out["md5"].as_str().unwrap_or_default().to_owned(),
                    link_expires: when(issued + LINK_VALIDITY),
                    reissued,
                })
            });
        let callback = callback_of(step(steps, "await_connection"), callback_timeout);
        let (accounts, total, read) = match (&done, step(steps, "list_accounts")) {
            (Some(d), _) => (d.accounts.clone(), d.accounts_total, true),
            (None, Some(s)) if s.state == "succeeded" => {
                let out = s.output.clone().unwrap_or_default();
                (
                    serde_json::from_value(out["accounts"].clone()).unwrap_or_default(),
                    out["total"].as_u64().unwrap_or(0),
                    true,
                )
            }
            _ => (Vec::new(), 0, false),
        };
        let shown: Vec<CortexAccount> = accounts.into_iter().take(ACCOUNTS_SHOWN).collect();
        CortexSection {
            connection,
            pending_instance_id: pending,
            instance,
            template,
            callback,
            accounts_more: total.saturating_sub(shown.len() as u64),
            accounts: shown,
            accounts_total: total,
            accounts_read: read,
        }
    }
}

fn callback_of(step: Option<&StepRecord>, timeout: std::time::Duration) -> CallbackView {
    let Some(s) = step else {
        return CallbackView {
            state: super::badge("pending"),
            key: "not_started",
            since: String::new(),
            deadline: String::new(),
            received: String::new(),
        };
    };
    let since: OffsetDateTime = s.started_at;
    let deadline = since + Duration::try_from(timeout).unwrap_or(Duration::ZERO);
    let (key, state, received) = match (s.state.as_str(), s.finished_at) {
        ("succeeded", Some(at)) => ("received", "succeeded", when(at)),
        ("failed", _) => ("timed_out", "failed", String::new()),
        _ => ("waiting", "running", String::new()),
    };
    CallbackView {
        state: super::badge(state),
        key,
        since: when(since),
        deadline: when(deadline),
        received,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(state: &str, finished: bool) -> StepRecord {
        let started = time::macros::datetime!(2026-12-02 07:00:00 UTC);
        StepRecord {
            job_id: cortex_store::JobId(uuid::Uuid::nil()),
            name: "await_connection".into(),
            state: state.into(),
            started_at: started,
            finished_at: finished.then_some(started + Duration::seconds(42)),
            output: None,
        }
    }

    #[test]
    fn the_callback_wait_says_since_when_and_until_when() {
        let timeout = std::time::Duration::from_secs(600);
        let waiting = callback_of(Some(&step("running", false)), timeout);
        assert_eq!(waiting.key, "waiting");
        assert_eq!(waiting.since, "2026-12-02 07:00:00 UTC");
        assert_eq!(waiting.deadline, "2026-12-02 07:10:00 UTC");
        let received = callback_of(Some(&step("succeeded", true)), timeout);
        assert_eq!(
            (received.key, received.received.as_str()),
            ("received", "2026-12-02 07:00:42 UTC")
        );
        assert_eq!(
            callback_of(Some(&step("failed", true)), timeout).key,
            "timed_out"
        );
        assert_eq!(callback_of(None, timeout).key, "not_started");
    }
}
