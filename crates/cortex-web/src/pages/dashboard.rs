//! The dashboard: every Azure account Prisma Cloud has (`GET /cloud`) joined with our own
//! records — the newest job for each account, its state, and the capability statuses it last
//! saw — with search and filters; then the recent jobs.
//!
//! Accounts we tried to onboard that Prisma Cloud does not have (a job failed before
//! registering) are listed too, so nothing that needs attention is hidden.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use cortex_store::{JobRecord, JobState};

use super::{Badge, Nav, PageError, PageUser, badge, job_name, no_store, when};
use crate::extract::FormFields;
use crate::state::AppState;

/// How many of our newest jobs are joined with the accounts.
const JOBS_LOOKED_AT: u32 = 5000;
/// How many account rows one page shows.
const MAX_ROWS: usize = 500;

pub struct CapabilityCell {
    pub name: String,
    pub badge: Badge,
    pub message: String,
}

pub struct LastJob {
    pub id: String,
    pub state: Badge,
    pub at: String,
}

pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    /// Enabled / disabled in Prisma Cloud, or "not in Prisma Cloud".
    pub status: Badge,
    pub capabilities: Vec<CapabilityCell>,
    pub last_job: Option<LastJob>,
    /// When the client secret our Terraform created expires, if we created it.
    pub secret: Option<SecretExpiry>,
    pub attention: bool,
}

/// Azure client secrets expire; Prisma Cloud stops scanning when they do.
pub struct SecretExpiry {
    pub date: String,
    pub badge: Badge,
}

/// Within this many days an expiry is a warning.
const EXPIRY_WARNING_DAYS: i64 = 30;

fn secret_expiry(job: &JobRecord) -> Option<SecretExpiry> {
    let text = job.result.as_ref()?["secret_expiry"].as_str()?;
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    let days = (at - time::OffsetDateTime::now_utc()).whole_days();
    let mut b = match days {
        d if d < 0 => badge("error"),
        d if d < EXPIRY_WARNING_DAYS => badge("warning"),
        _ => badge("ok"),
    };
    b.text = match days {
        d if d < 0 => "expired".to_owned(),
        d => format!("{d} days left"),
    };
    Some(SecretExpiry {
        date: at.date().to_string(),
        badge: b,
    })
}

pub struct JobRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub state: Badge,
    pub created_at: String,
    pub created_by: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub nav: Nav,
    pub q: String,
    pub filter: String,
    pub accounts: Vec<AccountRow>,
    pub total_accounts: usize,
    pub attention_count: usize,
    pub truncated: bool,
    pub accounts_error: Option<String>,
    pub jobs: Vec<JobRow>,
}

/// The account a job is about (the subscription, or the tenant for tenant and Entra scopes).
fn account_of(job: &JobRecord) -> Option<String> {
    let scope = &job.request["scope"];
    scope["subscription_id"]
        .as_str()
        .or_else(|| scope["tenant_id"].as_str())
        .map(str::to_ascii_lowercase)
}

fn capability_cells(list: &[(String, String, String)]) -> Vec<CapabilityCell> {
    list.iter()
        .map(|(name, status, message)| CapabilityCell {
            name: name.clone(),
            badge: badge(status),
            message: message.clone(),
        })
        .collect()
}

/// The capabilities a job last saw: its result when it succeeded, else its stored
/// `capability_status` events (the newest per capability).
async fn capabilities_of(
    state: &AppState,
    job: &JobRecord,
) -> Result<Vec<(String, String, String)>, PageError> {
    if let Some(caps) = job
        .result
        .as_ref()
        .and_then(|r| r["capabilities"].as_array())
    {
        return Ok(caps
            .iter()
            .map(|c| {
                let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
                (s("name"), s("status"), s("message"))
            })
            .collect());
    }
    if job.state != JobState::Failed {
        return Ok(Vec::new());
    }
    let events = state
        .engine()
        .store()
        .events_after(job.id, 0, u32::MAX)
        .await?;
    let mut latest: Vec<(String, String, String)> = Vec::new();
    for e in events
        .iter()
        .filter(|e| e.event["type"] == "capability_status")
    {
        let s = |k: &str| e.event[k].as_str().unwrap_or_default().to_owned();
        let name = s("capability");
        match latest.iter_mut().find(|(n, _, _)| *n == name) {
            Some(slot) => *slot = (name, s("status"), s("message")),
            None => latest.push((name, s("status"), s("message"))),
        }
    }
    Ok(latest)
}

pub async fn dashboard(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let query = FormFields::parse(query.as_deref().unwrap_or(""));
    let q = query.get("q");
    let filter = match query.get("filter").as_str() {
        f @ ("attention" | "enabled" | "disabled" | "failed") => f.to_owned(),
        _ => "all".to_owned(),
    };
    let jobs = state
        .engine()
        .store()
        .list_jobs(None, JOBS_LOOKED_AT)
        .await?;
    // Newest first: the first job seen for an account is its latest.
    let mut latest: HashMap<String, &JobRecord> = HashMap::new();
    for job in &jobs {
        if let Some(account) = account_of(job) {
            latest.entry(account).or_insert(job);
        }
    }
    let (listed, accounts_error) = match state.engine().client().list_accounts().await {
        Ok(list) => (list, None),
        Err(e) => (
            Vec::new(),
            Some(format!("Prisma Cloud could not list the accounts: {e}")),
        ),
    };
    // (id, name, kind, status word, in Prisma)
    let mut base: Vec<(String, String, String, &str)> = listed
        .into_iter()
        .map(|a| {
            let status = if a.enabled { "enabled" } else { "disabled" };
            (a.account_id, a.name, a.account_type, status)
        })
        .collect();
    let known: std::collections::HashSet<String> =
        base.iter().map(|a| a.0.to_ascii_lowercase()).collect();
    for (account, job) in &latest {
        if !known.contains(account) {
            base.push((
                account.clone(),
                job_name(&job.request),
                job.request["scope"]["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                "not_in_prisma_cloud",
            ));
        }
    }
    base.sort_by(|a, b| {
        a.1.to_lowercase()
            .cmp(&b.1.to_lowercase())
            .then(a.0.cmp(&b.0))
    });
    let total_accounts = base.len();
    let needle = q.to_lowercase();
    let mut accounts = Vec::new();
    let mut attention_count = 0;
    let mut truncated = false;
    for (id, name, kind, status) in base {
        let job = latest.get(&id.to_ascii_lowercase()).copied();
        let caps = match job {
            Some(j) => capabilities_of(&state, j).await?,
            None => Vec::new(),
        };
        let failed = job.is_some_and(|j| j.state == JobState::Failed);
        let secret = job.and_then(secret_expiry);
        let expiring = secret.as_ref().is_some_and(|s| s.badge.class != "ok");
        let attention =
            status != "enabled" || failed || expiring || caps.iter().any(|c| c.1 != "ok");
        attention_count += usize::from(attention);
        let matches_text = needle.is_empty()
            || name.to_lowercase().contains(&needle)
            || id.to_lowercase().contains(&needle);
        let matches_filter = match filter.as_str() {
            "attention" => attention,
            "enabled" => status == "enabled",
            "disabled" => status == "disabled",
            "failed" => failed,
            _ => true,
        };
        if !(matches_text && matches_filter) {
            continue;
        }
        if accounts.len() == MAX_ROWS {
            truncated = true;
            continue;
        }
        accounts.push(AccountRow {
            capabilities: capability_cells(&caps),
            last_job: job.map(|j| LastJob {
                id: j.id.to_string(),
                state: badge(j.state.as_str()),
                at: when(j.created_at),
            }),
            status: badge(status),
            secret,
            id,
            name,
            kind,
            attention,
        });
    }
    let recent = jobs
        .iter()
        .take(25)
        .map(|j| JobRow {
            id: j.id.to_string(),
            name: job_name(&j.request),
            kind: j.kind.clone(),
            state: badge(j.state.as_str()),
            created_at: when(j.created_at),
            created_by: j.created_by.clone(),
        })
        .collect();
    Ok(no_store(
        DashboardPage {
            nav: Nav::of(&p),
            q,
            filter,
            accounts,
            total_accounts,
            attention_count,
            truncated,
            accounts_error,
            jobs: recent,
        }
        .into_response(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_expiring_in(days: i64) -> JobRecord {
        let at =
            time::OffsetDateTime::now_utc() + time::Duration::days(days) + time::Duration::hours(1);
        let text = at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        JobRecord {
            id: "01a20352-ec2b-729d-a976-bca61dd4a3c5".parse().unwrap(),
            batch_id: None,
            kind: "onboard_tenant".into(),
            state: JobState::Succeeded,
            request: serde_json::json!({}),
            result: Some(serde_json::json!({ "secret_expiry": text })),
            error: None,
            attempts: 1,
            worker_id: None,
            lease_until: None,
            cancel_requested: false,
            approved: false,
            created_by: "t".into(),
            created_at: time::OffsetDateTime::now_utc(),
            updated_at: time::OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn secrets_near_or_past_their_expiry_are_flagged() {
        let far = secret_expiry(&job_expiring_in(180)).unwrap();
        assert_eq!(
            (far.badge.class, far.badge.text.as_str()),
            ("ok", "180 days left")
        );
        let near = secret_expiry(&job_expiring_in(5)).unwrap();
        assert_eq!(
            (near.badge.class, near.badge.text.as_str()),
            ("warn", "5 days left")
        );
        let past = secret_expiry(&job_expiring_in(-3)).unwrap();
        assert_eq!(
            (past.badge.class, past.badge.text.as_str()),
            ("bad", "expired")
        );
        let mut none = job_expiring_in(1);
        none.result = Some(serde_json::json!({}));
        assert!(secret_expiry(&none).is_none());
    }
}
