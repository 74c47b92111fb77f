//! The dashboard: every Azure account Prisma Cloud has (`GET /cloud`) joined with our own
//! records — the newest job for each account, its state, and the capability statuses it last
//! saw — with search and filters; then the recent jobs.
//!
//! Accounts we tried to onboard that Prisma Cloud does not have (a job failed before
//! registering) are listed too, so nothing that needs attention is hidden.
//!
//! Both tables are paged on the server (`page`/`per_page` for the accounts, `jobs_page` for the
//! recent jobs; page sizes are bounded, out-of-range pages clamp to the last one), with links
//! that keep the search and filter. Account names link to their page (`/accounts/{id}`), the
//! last onboarding to its job; kinds read as
//! words ("Subscription onboarding", not `onboard_subscription`).

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use cortex_store::{HealthRecord, JobRecord, JobState};

use super::{Badge, Nav, PageError, PageUser, badge, job_name, no_store, when};
use crate::extract::FormFields;
use crate::state::AppState;

/// How many of our newest jobs are joined with the accounts.
const JOBS_LOOKED_AT: u32 = 5000;
/// Account rows per page: the default and the bounds of `per_page`.
pub const PER_PAGE_DEFAULT: usize = 50;
pub const PER_PAGE_MIN: usize = 10;
pub const PER_PAGE_MAX: usize = 200;
/// Recent jobs per page.
const JOBS_PER_PAGE: usize = 25;

/// A job's kind in words: `onboard_subscription` becomes "Subscription onboarding".
pub fn job_kind_label(kind: &str) -> String {
    match kind {
        "onboard_subscription" => "Subscription onboarding".to_owned(),
        "onboard_tenant" => "Tenant onboarding (with its management groups)".to_owned(),
        "onboard_entra" => "Microsoft Entra ID onboarding".to_owned(),
        other => sentence(other),
    }
}

/// An account's type in words: Prisma Cloud's `account` is a subscription; our own scope
/// kinds (for accounts Prisma Cloud does not have) read the same way.
pub fn account_kind_label(kind: &str) -> String {
    match kind {
        "account" | "subscription" => "Subscription".to_owned(),
        "tenant" => "Tenant".to_owned(),
        "entra" => "Microsoft Entra ID tenant".to_owned(),
        other => sentence(other),
    }
}

/// `some_raw_word` becomes "Some raw word".
fn sentence(raw: &str) -> String {
    let words = raw.replace('_', " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A query-string value, percent-encoded (everything but RFC 3986's unreserved characters).
fn query_value(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One page of a list, and the links to its neighbours.
pub struct Pager {
    /// 1-based; clamped to `1..=pages`.
    pub page: usize,
    pub pages: usize,
    pub per_page: usize,
    pub total: usize,
    /// The 1-based positions of the first and last items shown (0 and 0 when empty).
    pub from: usize,
    pub to: usize,
    pub first: Option<String>,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub last: Option<String>,
}

impl Pager {
    /// `page` of `total` items, `per_page` each; `href(n)` is the link to page `n`.
    pub fn new(page: usize, per_page: usize, total: usize, href: impl Fn(usize) -> String) -> Self {
        let pages = total.div_ceil(per_page).max(1);
        let page = page.clamp(1, pages);
        let from = if total == 0 {
            0
        } else {
            (page - 1) * per_page + 1
        };
        let to = (page * per_page).min(total);
        let link = |ok: bool, n: usize| ok.then(|| href(n));
        Pager {
            first: link(page > 1, 1),
            prev: link(page > 1, page.saturating_sub(1)),
            next: link(page < pages, page + 1),
            last: link(page < pages, pages),
            page,
            pages,
            per_page,
            total,
            from,
            to,
        }
    }

    /// The items of this page.
    pub fn slice<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let start = self.from.saturating_sub(1).min(items.len());
        &items[start..self.to.min(items.len())]
    }

    /// Whether there is more than one page (the links are shown).
    pub fn paged(&self) -> bool {
        self.pages > 1
    }
}

/// A positive number from the query, or `default` (text, zero or nothing).
fn number(raw: &str, default: usize) -> usize {
    raw.trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

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
    /// Where the name links to: the account's page.
    pub href: Option<String>,
    pub kind: String,
    /// Enabled / disabled in Prisma Cloud, or "not in Prisma Cloud".
    pub status: Badge,
    pub capabilities: Vec<CapabilityCell>,
    /// The health watch's newest check and what changed last (`None` before the first).
    pub health: Option<super::health_view::HealthNow>,
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

pub(super) fn secret_expiry(job: &JobRecord) -> Option<SecretExpiry> {
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
    /// The matching accounts of this page.
    pub accounts: Vec<AccountRow>,
    pub total_accounts: usize,
    pub attention_count: usize,
    /// The matching accounts' pages (its `total` counts every match).
    pub accounts_pager: Pager,
    pub per_page_options: [usize; 4],
    pub accounts_error: Option<String>,
    pub jobs: Vec<JobRow>,
    pub jobs_pager: Pager,
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

/// The health watch's newest check and newest change per account ID (lower-case).
struct HealthByAccount {
    latest: HashMap<String, HealthRecord>,
    changed: HashMap<String, HealthRecord>,
    now_ms: i64,
}

impl HealthByAccount {
    async fn load(state: &AppState) -> Result<Self, PageError> {
        // An account onboarded through two connections has two keys: the newest check wins.
        let by_account = |records: Vec<HealthRecord>| {
            let mut map: HashMap<String, HealthRecord> = HashMap::new();
            for r in records {
                let id = r.check.account_id.to_ascii_lowercase();
                if map
                    .get(&id)
                    .is_none_or(|seen| seen.check.checked_at_ms < r.check.checked_at_ms)
                {
                    map.insert(id, r);
                }
            }
            map
        };
        let store = state.engine().store();
        Ok(Self {
            latest: by_account(store.latest_health().await?),
            changed: by_account(store.latest_changes().await?),
            now_ms: super::health_view::now_ms(),
        })
    }

    /// The account's health, and its capabilities as the newest check saw them (unless that
    /// check failed: then the onboarding's are shown).
    #[allow(clippy::type_complexity)]
    fn of(
        &self,
        id: &str,
    ) -> (
        Option<super::health_view::HealthNow>,
        Option<Vec<(String, String, String)>>,
    ) {
        let id = id.to_ascii_lowercase();
        let Some(latest) = self.latest.get(&id) else {
            return (None, None);
        };
        let now = super::health_view::HealthNow::of(latest, self.changed.get(&id), self.now_ms);
        let caps = (latest.check.error.is_none()).then(|| {
            super::health_view::capabilities(latest)
                .into_iter()
                .map(|c| (c.name, c.status, c.message))
                .collect()
        });
        (Some(now), caps)
    }
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
    let per_page =
        number(&query.get("per_page"), PER_PAGE_DEFAULT).clamp(PER_PAGE_MIN, PER_PAGE_MAX);
    let page = number(&query.get("page"), 1);
    let jobs_page = number(&query.get("jobs_page"), 1);
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
    let health = HealthByAccount::load(&state).await?;
    base.sort_by(|a, b| {
        a.1.to_lowercase()
            .cmp(&b.1.to_lowercase())
            .then(a.0.cmp(&b.0))
    });
    let total_accounts = base.len();
    let needle = q.to_lowercase();
    let mut accounts = Vec::new();
    let mut attention_count = 0;
    for (id, name, kind, status) in base {
        let job = latest.get(&id.to_ascii_lowercase()).copied();
        let (now, caps) = health.of(&id);
        let caps = match (caps, job) {
            (Some(caps), _) => caps,
            (None, Some(j)) => capabilities_of(&state, j).await?,
            (None, None) => Vec::new(),
        };
        let failed = job.is_some_and(|j| j.state == JobState::Failed);
        let secret = job.and_then(secret_expiry);
        let expiring = secret.as_ref().is_some_and(|s| s.badge.class != "ok");
        let unhealthy = now.as_ref().is_some_and(|h| h.badge.class != "ok");
        let attention = status != "enabled"
            || failed
            || expiring
            || unhealthy
            || caps.iter().any(|c| c.1 != "ok");
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
        accounts.push(AccountRow {
            href: Some(format!("/accounts/{id}")),
            capabilities: capability_cells(&caps),
            health: now,
            last_job: job.map(|j| LastJob {
                id: j.id.to_string(),
                state: badge(j.state.as_str()),
                at: when(j.created_at),
            }),
            status: badge(status),
            secret,
            id,
            name,
            kind: account_kind_label(&kind),
            attention,
        });
    }
    // The links keep the search, the filter, the page size and the other table's page.
    let base_query = |page: usize, jobs_page: usize| {
        let mut href = format!("/?page={page}&per_page={per_page}&jobs_page={jobs_page}");
        if !q.is_empty() {
            href.push_str(&format!("&q={}", query_value(&q)));
        }
        if filter != "all" {
            href.push_str(&format!("&filter={filter}"));
        }
        href
    };
    let accounts_pager = Pager::new(page, per_page, accounts.len(), |n| {
        base_query(n, jobs_page) + "#accounts-h"
    });
    let jobs_pager = Pager::new(jobs_page, JOBS_PER_PAGE, jobs.len(), |n| {
        base_query(accounts_pager.page, n) + "#jobs-h"
    });
    let shown = accounts_pager.slice(&accounts).len();
    let skip = accounts_pager.from.saturating_sub(1);
    let accounts: Vec<AccountRow> = accounts.into_iter().skip(skip).take(shown).collect();
    let recent = jobs_pager
        .slice(&jobs)
        .iter()
        .map(|j| JobRow {
            id: j.id.to_string(),
            name: job_name(&j.request),
            kind: job_kind_label(&j.kind),
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
            accounts_pager,
            per_page_options: [PER_PAGE_MIN, 25, PER_PAGE_DEFAULT, PER_PAGE_MAX],
            accounts_error,
            jobs: recent,
            jobs_pager,
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
    fn a_pager_clamps_its_page_and_links_only_to_pages_that_exist() {
        let href = |n: usize| format!("/?page={n}");
        let items: Vec<u32> = (1..=23).collect();
        let p = Pager::new(3, 10, items.len(), href);
        assert_eq!((p.page, p.pages, p.from, p.to), (3, 3, 21, 23));
        assert_eq!(p.slice(&items), [21, 22, 23]);
        assert_eq!(p.prev.as_deref(), Some("/?page=2"));
        assert_eq!((p.next, p.last), (None, None));
        let p = Pager::new(0, 10, items.len(), href);
        assert_eq!((p.page, p.first.clone(), p.prev.clone()), (1, None, None));
        assert_eq!(p.next.as_deref(), Some("/?page=2"));
        assert_eq!(p.last.as_deref(), Some("/?page=3"));
        let empty = Pager::new(5, 10, 0, href);
        assert_eq!(
            (empty.page, empty.pages, empty.from, empty.to),
            (1, 1, 0, 0)
        );
        assert!(empty.slice(&items[..0]).is_empty() && !empty.paged());
    }

    #[test]
    fn kinds_read_as_words() {
        assert_eq!(
            job_kind_label("onboard_subscription"),
            "Subscription onboarding"
        );
        assert_eq!(
            job_kind_label("onboard_entra"),
            "Microsoft Entra ID onboarding"
        );
        assert_eq!(job_kind_label("some_new_kind"), "Some new kind");
        assert_eq!(account_kind_label("account"), "Subscription");
        assert_eq!(account_kind_label("tenant"), "Tenant");
        assert_eq!(query_value("a b&c=\u{e4}"), "a%20b%26c%3D%C3%A4");
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
