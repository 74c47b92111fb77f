//! The health watch: after onboarding, every onboarded account's capabilities are read from its
//! platform on a schedule and recorded as history; what changed is an audit event and a
//! broadcast [`HealthEvent`], and — degraded, recovered, secret nearing its end, a check that
//! failed — a notification to the configured sinks ([`notify`]).
//!
//! * **Rounds.** Round `n` is the `n`-th interval since the Unix epoch, so every replica with
//!   the same interval agrees on it. In each round a replica checks an account only after
//!   winning its lease for that round ([`cortex_store::Store::claim_watch`]): one check per
//!   account per round across replicas, and a replica that dies mid-check is replaced once its
//!   lease expires.
//! * **The platform seam.** [`HealthSource`] reads one account's capabilities; today
//!   [`PrismaSource`] (Prisma Cloud's `/account/{id}/config/status`, through the account's
//!   connection). A Cortex source (capability statuses of a cloud instance) implements the
//!   same trait, and accounts name their platform in their key (`prisma:<connection>:<id>`).
//! * **Once.** A round's check is recorded once (unique per account and round), and a
//!   notification is keyed (`degraded:<account>:<round>`, `secret:<account>:<end>:<days>`):
//!   only the replica whose insert wins delivers it.

pub mod notify;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use cortex_store::{AuditEntry, HealthCheck, HealthRecord, JobState, NewNotification, Store};
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::connections::ConnectionName;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::job::CapabilityState;
use crate::job::prisma::{capability_states, requested_capabilities};
use crate::request::OnboardingRequest;

/// Days before a client secret's end date at which a notice goes out (the tightest reached).
pub const DEFAULT_SECRET_WARNINGS: [u32; 3] = [30, 7, 1];

/// At most this many stuck deliveries are taken over per sweep.
const SWEEP_LIMIT: u32 = 100;

/// The actor of the watch's audit entries.
pub const WATCH_ACTOR: &str = "health-watch";

#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// Time between rounds (at least a second).
    pub interval: Duration,
    /// How long a replica holds an account's check before another may take it over.
    pub lease: Duration,
    /// Days before a secret's end date to notify at, e.g. `[30, 7, 1]`.
    pub secret_warning_days: Vec<u32>,
    /// How deliveries to sinks are retried.
    pub delivery: prisma_client::RetryPolicy,
    /// Who this replica is in the leases (defaults to the engine's worker id).
    pub holder: Option<String>,
    /// Rotate a client secret our Terraform created this long before its end date (a
    /// `rotate_secret` job, submitted once per end date across replicas); `None`: never
    /// automatically.
    pub rotate_before: Option<Duration>,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(15 * 60),
            lease: Duration::from_secs(120),
            secret_warning_days: DEFAULT_SECRET_WARNINGS.to_vec(),
            delivery: notify::default_policy(),
            holder: None,
            rotate_before: None,
        }
    }
}

/// An onboarded account the watch checks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WatchedAccount {
    /// `<platform>:<connection>:<account id>`.
    pub key: String,
    pub platform: &'static str,
    #[serde(skip)]
    pub connection: Option<ConnectionName>,
    pub account_id: String,
    pub account_name: String,
    pub job_id: String,
    /// The capabilities onboarding asked for (Prisma's component names).
    pub capabilities: Vec<String>,
    /// The states onboarding ended with: the baseline before the first check.
    #[serde(skip)]
    pub onboarded_states: Vec<CapabilityState>,
    /// The client secret's end date, when our Terraform created it (or a rotation set it).
    pub secret_expiry: Option<String>,
    /// Whether our Terraform can rotate its secret (an identity created for it alone).
    #[serde(skip)]
    pub rotatable: bool,
    /// The lifetime our Terraform gives its client secret, in days (a rotation's new secret
    /// gets the same), when it made one.
    #[serde(skip)]
    pub secret_lifetime_days: Option<u32>,
}

/// The account key of a Prisma Cloud account.
pub fn prisma_key(connection: Option<&ConnectionName>, account_id: &str) -> String {
    let connection = connection.map_or(crate::connections::DEFAULT_CONNECTION, |c| c.as_str());
    format!("prisma:{connection}:{account_id}")
}

/// Reads one account's capabilities from its platform.
pub trait HealthSource: Send + Sync {
    fn capabilities<'a>(
        &'a self,
        account: &'a WatchedAccount,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<CapabilityState>, EngineError>> + Send + 'a>>;
}

/// Prisma Cloud: `GET /account/{id}/config/status` through the account's connection.
pub struct PrismaSource {
    engine: Engine,
}

impl HealthSource for PrismaSource {
    fn capabilities<'a>(
        &'a self,
        account: &'a WatchedAccount,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<CapabilityState>, EngineError>> + Send + 'a>> {
        Box::pin(async move {
            let client = self
                .engine
                .inner()
                .client_for(account.connection.as_ref())
                .await?;
            let items = client.config_status(&account.account_id).await?;
            Ok(capability_states(&account.capabilities, &items))
        })
    }
}

/// A change the watch saw, as broadcast to this process's subscribers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthEvent {
    pub account_key: String,
    pub account_name: String,
    pub round: i64,
    pub status: String,
    pub changes: Vec<Change>,
}

/// One capability's status change between two checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Change {
    pub capability: String,
    pub from: String,
    pub to: String,
}

/// What one round did (this replica's share).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RoundReport {
    pub round: i64,
    /// Accounts onboarded (what every replica sees).
    pub accounts: usize,
    /// Checked by this replica (the others were another replica's, or done already).
    pub checked: usize,
    /// Checks that failed (the platform did not answer).
    pub failed: usize,
    pub notifications: usize,
}

type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// The watch over one engine's store. Cheap to clone.
#[derive(Clone)]
pub struct HealthWatch {
    engine: Engine,
    config: WatchConfig,
    sources: Arc<Vec<(&'static str, Box<dyn HealthSource>)>>,
    clock: Clock,
    http: reqwest::Client,
    events: broadcast::Sender<HealthEvent>,
}

impl HealthWatch {
    pub fn new(engine: Engine, config: WatchConfig) -> Result<Self, EngineError> {
        let http = notify::sink_client()?;
        let prisma: Box<dyn HealthSource> = Box::new(PrismaSource {
            engine: engine.clone(),
        });
        Ok(Self {
            engine,
            config,
            sources: Arc::new(vec![("prisma", prisma)]),
            clock: Arc::new(OffsetDateTime::now_utc),
            http,
            events: broadcast::channel(256).0,
        })
    }

    /// The same watch reading time from `clock` (tests move it to age secrets).
    pub fn with_clock(
        mut self,
        clock: impl Fn() -> OffsetDateTime + Send + Sync + 'static,
    ) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Live changes seen by this process.
    pub fn subscribe(&self) -> broadcast::Receiver<HealthEvent> {
        self.events.subscribe()
    }

    fn holder(&self) -> String {
        self.config
            .holder
            .clone()
            .unwrap_or_else(|| self.engine.config().worker_id.clone())
    }

    fn store(&self) -> &Store {
        self.engine.store()
    }

    /// The engine the watch reads (drift checks share it).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The watch's clock now.
    pub fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    /// The round number at `now`.
    pub fn round_at(&self, now: OffsetDateTime) -> i64 {
        let interval = self.config.interval.as_secs().max(1) as i64;
        now.unix_timestamp().div_euclid(interval)
    }

    /// Runs a round at every interval boundary until `shutdown`.
    pub async fn run(&self, shutdown: CancellationToken) {
        loop {
            match self.run_round().await {
                Ok(report) => tracing::debug!(?report, "health watch round"),
                Err(e) => tracing::warn!(error = %e, code = e.code(), "health watch round failed"),
            }
            match self.sweep_deliveries().await {
                Ok(report) if report.claimed > 0 => {
                    tracing::info!(?report, "stuck deliveries swept")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, code = e.code(), "delivery sweep failed"),
            }
            let now = (self.clock)();
            let interval = self.config.interval.as_secs().max(1) as i64;
            let next = (self.round_at(now) + 1) * interval;
            let wait = Duration::from_millis(
                ((next - now.unix_timestamp()) * 1000 - i64::from(now.millisecond())).max(50)
                    as u64,
            );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// Takes over and delivers the `pending` deliveries nobody has touched for longer than a
    /// delivery can take (their worker died) and the re-queued dead letters ([`notify::sweep`]).
    pub async fn sweep_deliveries(&self) -> Result<notify::SweepReport, EngineError> {
        notify::sweep(
            self.store(),
            &self.http,
            &self.config.delivery,
            notify::stale_after(&self.config.delivery),
            millis((self.clock)()),
            SWEEP_LIMIT,
        )
        .await
    }

    /// One round now: every onboarded account this replica wins is checked and recorded.
    pub async fn run_round(&self) -> Result<RoundReport, EngineError> {
        let now = (self.clock)();
        let round = self.round_at(now);
        let accounts = onboarded_accounts(self.store()).await?;
        let managed = crate::drift::managed_accounts(&self.engine).await?;
        let mut report = RoundReport {
            round,
            accounts: accounts.len(),
            ..RoundReport::default()
        };
        let holder = self.holder();
        for account in &accounts {
            let now_ms = millis(now);
            if !self
                .store()
                .claim_watch(&account.key, round, &holder, self.config.lease, now_ms)
                .await?
            {
                continue;
            }
            let (checked, notes) = self.check_one(account, round, now).await?;
            // Drift rides on the same lease: one comparison per account per round.
            if let Some(managed) = managed.iter().find(|m| m.key == account.key)
                && let Err(e) = crate::drift::check(self, managed).await
            {
                tracing::warn!(account = %account.key, error = %e, "drift check failed");
            }
            report.checked += 1;
            report.failed += usize::from(!checked);
            report.notifications += notes;
            self.store()
                .finish_watch(&account.key, round, &holder)
                .await?;
        }
        Ok(report)
    }

    /// Checks and records one account; whether the check succeeded, and how many
    /// notifications this replica sent.
    async fn check_one(
        &self,
        account: &WatchedAccount,
        round: i64,
        now: OffsetDateTime,
    ) -> Result<(bool, usize), EngineError> {
        let source = self
            .sources
            .iter()
            .find(|(p, _)| *p == account.platform)
            .map(|(_, s)| s)
            .ok_or_else(|| {
                EngineError::Workspace(format!("no health source for {}", account.platform))
            })?;
        let result = source.capabilities(account).await;
        let previous = self.store().health_history(&account.key, 1).await?;
        let previous = previous.first();
        let before: Vec<(String, String)> = match previous {
            Some(p) => states_of(&p.check.capabilities),
            None => account
                .onboarded_states
                .iter()
                .map(|s| (s.name.clone(), s.status.clone()))
                .collect(),
        };
        let (status, capabilities, error) = match &result {
            Ok(states) => (
                overall(states),
                serde_json::to_value(states).unwrap_or_default(),
                None,
            ),
            Err(e) => (
                "unknown".to_owned(),
                previous.map_or(json!([]), |p| p.check.capabilities.clone()),
                Some(e.to_string()),
            ),
        };
        let changes = match &result {
            Ok(states) => diff(&before, states),
            Err(_) => Vec::new(),
        };
        let check = HealthCheck {
            account_key: account.key.clone(),
            platform: account.platform.to_owned(),
            account_id: account.account_id.clone(),
            account_name: account.account_name.clone(),
            job_id: account.job_id.clone(),
            round,
            checked_at_ms: millis(now),
            status: status.clone(),
            capabilities,
            changes: serde_json::to_value(&changes).unwrap_or_default(),
            error: error.clone(),
        };
        if self.store().record_health(&check).await?.is_none() {
            // Another replica recorded this round (its lease expired mid-way, ours won late).
            return Ok((result.is_ok(), 0));
        }
        if !changes.is_empty() {
            self.audit(
                "health.changed",
                account,
                json!({"round": round, "status": status, "changes": changes}),
            )
            .await;
            let _ = self.events.send(HealthEvent {
                account_key: account.key.clone(),
                account_name: account.account_name.clone(),
                round,
                status: status.clone(),
                changes: changes.clone(),
            });
        }
        let mut notes = Vec::new();
        let degraded: Vec<&Change> = changes.iter().filter(|c| c.to != "ok").collect();
        let recovered: Vec<&Change> = changes.iter().filter(|c| c.to == "ok").collect();
        if !degraded.is_empty() {
            notes.push(self.capability_note(
                "capability_degraded",
                account,
                round,
                &degraded,
                result.as_deref().unwrap_or_default(),
            ));
        }
        if !recovered.is_empty() {
            notes.push(self.capability_note(
                "capability_recovered",
                account,
                round,
                &recovered,
                &[],
            ));
        }
        if let Some(e) = &error
            && previous.is_none_or(|p| p.check.error.is_none())
        {
            notes.push(self.note(
                "watch_failed",
                format!("watch_failed:{}:{round}", account.key),
                account,
                format!("Health check of {} failed: {e}", account.account_name),
                json!({"error": e}),
            ));
        }
        if let Some(note) = self.secret_note(account, now) {
            notes.push(note);
        }
        notes.extend(self.rotation_notes(account).await?);
        self.rotate_if_due(account, now).await;
        let mut sent = 0;
        for note in notes {
            sent += usize::from(self.send(note).await?);
        }
        Ok((result.is_ok(), sent))
    }

    /// A notification for each rotation of the account that failed (once per job).
    async fn rotation_notes(
        &self,
        account: &WatchedAccount,
    ) -> Result<Vec<NewNotification>, EngineError> {
        let mut notes = Vec::new();
        for job in self.store().list_jobs(None, u32::MAX).await? {
            if job.kind != crate::lifecycle::ROTATE_KIND
                || job.state != JobState::Failed
                || job.request["onboarding_job"].as_str() != Some(account.job_id.as_str())
            {
                continue;
            }
            let message = job
                .error
                .as_ref()
                .and_then(|e| e["message"].as_str())
                .unwrap_or("failed")
                .to_owned();
            notes.push(self.note(
                "rotation_failed",
                format!("rotation_failed:{}", job.id),
                account,
                format!(
                    "{}: the client secret rotation (job {}) failed: {message}",
                    account.account_name, job.id
                ),
                json!({"rotation_job_id": job.id.to_string(), "error": message}),
            ));
        }
        Ok(notes)
    }

    /// Submits a rotation when the secret is within `rotate_before` of its end date — once
    /// per end date: this replica holds the account's lease for the round, and a rotation
    /// already submitted for that end date (by any replica, in any round) is not repeated.
    async fn rotate_if_due(&self, account: &WatchedAccount, now: OffsetDateTime) {
        let (Some(lead), Some(end_text)) = (self.config.rotate_before, &account.secret_expiry)
        else {
            return;
        };
        let Ok(end) = OffsetDateTime::parse(end_text, &Rfc3339) else {
            return;
        };
        if !account.rotatable || end - now > lead {
            return;
        }
        // A lead time as long as the secret's lifetime would make every new secret due at
        // once: a rotation each round. Refused, naming the setting.
        if let Some(days) = account.secret_lifetime_days
            && lead >= std::time::Duration::from_secs(u64::from(days) * 86_400)
        {
            tracing::warn!(
                account = %account.key,
                field = "rotate_before_days",
                lifetime_days = days,
                "automatic rotation not submitted: rotate_before_days ({} days) is not shorter \
                 than this account's client-secret lifetime ({days} days); every new secret \
                 would be due at once. Lower --rotate-before-days.",
                lead.as_secs() / 86_400
            );
            return;
        }
        let submitted = match self.store().list_jobs(None, u32::MAX).await {
            Ok(jobs) => jobs.iter().any(|j| {
                j.kind == crate::lifecycle::ROTATE_KIND
                    && j.request["onboarding_job"].as_str() == Some(account.job_id.as_str())
                    && j.request["replaces_expiry"].as_str() == Some(end_text.as_str())
            }),
            Err(e) => {
                tracing::warn!(error = %e, "automatic rotation: jobs not listed");
                return;
            }
        };
        if submitted {
            return;
        }
        let options = crate::lifecycle::RotateOptions {
            connection: Some(
                account
                    .connection
                    .as_ref()
                    .map_or(crate::connections::DEFAULT_CONNECTION, |c| c.as_str())
                    .to_owned(),
            ),
            ..Default::default()
        };
        match self
            .engine
            .submit_rotation_as(
                &account.account_id,
                options,
                crate::lifecycle::Trigger::Automatic,
                Some(end_text.clone()),
                WATCH_ACTOR,
            )
            .await
        {
            Ok(job) => {
                self.audit(
                    "rotation.scheduled",
                    account,
                    json!({"job_id": job.to_string(), "secret_expiry": end_text}),
                )
                .await;
            }
            Err(e) => {
                tracing::warn!(account = %account.key, error = %e, code = e.code(), "automatic rotation not submitted");
            }
        }
    }

    fn capability_note(
        &self,
        kind: &str,
        account: &WatchedAccount,
        round: i64,
        changes: &[&Change],
        states: &[CapabilityState],
    ) -> NewNotification {
        let names: Vec<&str> = changes.iter().map(|c| c.capability.as_str()).collect();
        let verb = if kind == "capability_degraded" {
            "degraded"
        } else {
            "recovered"
        };
        let details: Vec<Value> = changes
            .iter()
            .map(|c| {
                let state = states.iter().find(|s| s.name == c.capability);
                json!({
                    "capability": c.capability, "from": c.from, "to": c.to,
                    "message": state.map(|s| s.message.as_str()).unwrap_or(""),
                    "remediation": state.map(|s| s.remediation.as_str()).unwrap_or(""),
                })
            })
            .collect();
        self.note(
            kind,
            format!("{kind}:{}:{round}", account.key),
            account,
            format!("{}: {} {verb}", account.account_name, names.join(", ")),
            json!({"changes": details}),
        )
    }

    /// The tightest warning the secret's end date has reached, once per end date and step.
    fn secret_note(
        &self,
        account: &WatchedAccount,
        now: OffsetDateTime,
    ) -> Option<NewNotification> {
        let end_text = account.secret_expiry.as_deref()?;
        let end = OffsetDateTime::parse(end_text, &Rfc3339).ok()?;
        let left = end - now;
        let days_left = left.whole_seconds().div_euclid(86_400);
        let step = if left <= time::Duration::ZERO {
            0
        } else {
            *self
                .config
                .secret_warning_days
                .iter()
                .filter(|&&d| left <= time::Duration::days(i64::from(d)))
                .min()?
        };
        let summary = if step == 0 {
            format!(
                "{}: the Azure client secret expired on {end_text}",
                account.account_name
            )
        } else {
            format!(
                "{}: the Azure client secret ends on {end_text} ({} days left); rotate it before then",
                account.account_name,
                days_left.max(0)
            )
        };
        Some(self.note(
            "secret_expiring",
            format!("secret:{}:{end_text}:{step}", account.key),
            account,
            summary,
            json!({"secret_expiry": end_text, "days_left": days_left.max(0), "warning_days": step}),
        ))
    }

    fn note(
        &self,
        kind: &str,
        dedupe_key: String,
        account: &WatchedAccount,
        summary: String,
        detail: Value,
    ) -> NewNotification {
        let now = (self.clock)();
        let mut payload = json!({
            "kind": kind,
            "summary": summary,
            "at": now.format(&Rfc3339).unwrap_or_default(),
            "account": {
                "platform": account.platform,
                "account_id": account.account_id,
                "name": account.account_name,
                "job_id": account.job_id,
            },
        });
        if let (Some(p), Some(d)) = (payload.as_object_mut(), detail.as_object()) {
            p.extend(d.clone());
        }
        NewNotification {
            dedupe_key,
            kind: kind.to_owned(),
            account_key: Some(account.key.clone()),
            payload,
            created_at_ms: millis(now),
        }
    }

    /// Inserts the notification; if this replica's insert won, delivers it to every sink.
    pub(crate) async fn send(&self, note: NewNotification) -> Result<bool, EngineError> {
        let sinks = notify::load_sinks(self.store()).await?;
        let names: Vec<String> = sinks.iter().map(|s| s.name.clone()).collect();
        let Some(id) = self.store().insert_notification(&note, &names).await? else {
            return Ok(false);
        };
        for sink in &sinks {
            let outcome = notify::deliver(
                &self.http,
                &self.config.delivery,
                sink,
                id,
                &note.kind,
                &note.payload,
            )
            .await;
            let state = if outcome.delivered {
                "delivered"
            } else {
                "dead"
            };
            if !outcome.delivered {
                tracing::warn!(sink = %sink.name, kind = %note.kind, error = ?outcome.last_error, "notification not delivered; it is in the dead-letter list");
            }
            self.store()
                .set_delivery(
                    id,
                    &sink.name,
                    state,
                    i64::from(outcome.attempts),
                    outcome.last_error.as_deref(),
                    millis((self.clock)()),
                )
                .await?;
        }
        Ok(true)
    }

    async fn audit(&self, action: &str, account: &WatchedAccount, detail: Value) {
        let entry = AuditEntry {
            actor: WATCH_ACTOR.to_owned(),
            action: action.to_owned(),
            target: account.account_name.clone(),
            detail,
            prisma_request_ids: Vec::new(),
        };
        if let Err(e) = self.store().audit(&entry).await {
            tracing::warn!(error = %e, action, "audit entry not written");
        }
    }
}

fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// `error` if any capability errs, else `warning` if any warns, else `ok`.
fn overall(states: &[CapabilityState]) -> String {
    if states.iter().any(|s| s.status == "error") {
        "error"
    } else if states.iter().any(|s| s.status != "ok") {
        "warning"
    } else {
        "ok"
    }
    .to_owned()
}

fn states_of(capabilities: &Value) -> Vec<(String, String)> {
    serde_json::from_value::<Vec<CapabilityState>>(capabilities.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.name, s.status))
        .collect()
}

/// The capabilities whose status differs from `before` (one not there before counts as `ok`).
fn diff(before: &[(String, String)], now: &[CapabilityState]) -> Vec<Change> {
    now.iter()
        .filter_map(|s| {
            let from = before
                .iter()
                .find(|(name, _)| name == &s.name)
                .map_or("ok", |(_, status)| status.as_str());
            (from != s.status).then(|| Change {
                capability: s.name.clone(),
                from: from.to_owned(),
                to: s.status.clone(),
            })
        })
        .collect()
}

/// Every account the store's succeeded onboarding jobs registered (the newest job per account)
/// and no later offboarding removed; a later rotation's end date replaces the onboarding's.
pub async fn onboarded_accounts(store: &Store) -> Result<Vec<WatchedAccount>, EngineError> {
    let mut accounts: Vec<WatchedAccount> = Vec::new();
    // Newest first: what a later job did is seen before the onboarding it acted on.
    let mut offboarded: Vec<String> = Vec::new();
    let mut rotated: Vec<(String, Option<String>)> = Vec::new();
    for job in store.list_jobs(None, u32::MAX).await? {
        if job.state != JobState::Succeeded {
            continue;
        }
        let onboarding = job.request["onboarding_job"].as_str().map(str::to_owned);
        match (job.kind.as_str(), onboarding) {
            (crate::lifecycle::OFFBOARD_KIND, Some(o)) => offboarded.push(o),
            (crate::lifecycle::ROTATE_KIND, Some(o)) if !rotated.iter().any(|(r, _)| *r == o) => {
                let end = job
                    .result
                    .as_ref()
                    .and_then(|r| r["secret_expiry"].as_str());
                rotated.push((o, end.map(str::to_owned)));
            }
            _ => {}
        }
        if !job.kind.starts_with("onboard_") {
            continue;
        }
        let (Ok(request), Some(result)) = (
            serde_json::from_value::<OnboardingRequest>(job.request.clone()),
            job.result.as_ref(),
        ) else {
            continue;
        };
        let Some(account_id) = result["account_id"].as_str() else {
            continue;
        };
        let key = prisma_key(request.connection.as_ref(), account_id);
        // Newest first: the first job seen for an account is its latest onboarding.
        if accounts.iter().any(|a| a.key == key) {
            continue;
        }
        let job_id = job.id.to_string();
        if offboarded.contains(&job_id) {
            // Keeps an older onboarding of the same account from standing in for it.
            accounts.push(WatchedAccount {
                key,
                platform: "",
                connection: None,
                account_id: String::new(),
                account_name: String::new(),
                job_id,
                capabilities: Vec::new(),
                onboarded_states: Vec::new(),
                secret_expiry: None,
                rotatable: false,
                secret_lifetime_days: None,
            });
            continue;
        }
        let secret_expiry = match rotated.iter().find(|(o, _)| *o == job_id) {
            Some((_, end)) => end.clone(),
            None => result["secret_expiry"].as_str().map(str::to_owned),
        };
        accounts.push(WatchedAccount {
            key,
            platform: "prisma",
            connection: request.connection.clone(),
            account_id: account_id.to_owned(),
            account_name: request.name.as_str().to_owned(),
            job_id,
            capabilities: requested_capabilities(&request),
            onboarded_states: serde_json::from_value(result["capabilities"].clone())
                .unwrap_or_default(),
            secret_expiry,
            rotatable: crate::lifecycle::Ownership::of(&request)
                == crate::lifecycle::Ownership::Ours,
            secret_lifetime_days: match request.identity {
                crate::request::IdentitySource::Builtin {
                    secret_rotation_days,
                    ..
                } => Some(secret_rotation_days),
                _ => None,
            },
        });
    }
    // Accounts onboarded elsewhere and adopted: watched with what they had when adopted.
    for adopted in store.desired_states().await? {
        if adopted.origin != "adopted" || accounts.iter().any(|a| a.key == adopted.account_key) {
            continue;
        }
        let Ok(desired) = serde_json::from_value::<crate::drift::AccountConfig>(adopted.desired)
        else {
            continue;
        };
        accounts.push(WatchedAccount {
            key: adopted.account_key,
            platform: "prisma",
            connection: adopted
                .connection
                .as_deref()
                .and_then(|c| ConnectionName::parse(c).ok()),
            account_id: adopted.account_id,
            account_name: adopted.account_name,
            job_id: String::new(),
            capabilities: desired.capabilities(),
            onboarded_states: Vec::new(),
            secret_expiry: None,
            rotatable: false,
            secret_lifetime_days: None,
        });
    }
    accounts.retain(|a| !a.platform.is_empty());
    accounts.sort_by(|a, b| a.account_name.cmp(&b.account_name).then(a.key.cmp(&b.key)));
    Ok(accounts)
}

/// Every watched account's newest check (the dashboard's health column and `accounts health`).
pub async fn current_health(store: &Store) -> Result<Vec<HealthRecord>, EngineError> {
    Ok(store.latest_health().await?)
}

/// One platform account's checks (under every connection it was onboarded through), newest
/// first, at most `limit`.
pub async fn account_history(
    store: &Store,
    account_id: &str,
    limit: u32,
) -> Result<Vec<HealthRecord>, EngineError> {
    let mut history = Vec::new();
    for latest in store.latest_health().await? {
        if latest.check.account_id.eq_ignore_ascii_case(account_id) {
            history.extend(
                store
                    .health_history(&latest.check.account_key, limit)
                    .await?,
            );
        }
    }
    history.sort_by_key(|r| std::cmp::Reverse(r.check.checked_at_ms));
    history.truncate(limit as usize);
    Ok(history)
}
