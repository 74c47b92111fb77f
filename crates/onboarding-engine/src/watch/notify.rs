//! Notification sinks and delivery: a generic JSON webhook signed with HMAC-SHA256, a
//! Slack-compatible incoming webhook, and a Microsoft Teams workflow webhook.
//!
//! A sink's URL and signing key are secrets (a Slack or Teams webhook URL is a bearer
//! credential): each sink is one store secret (owner [`SINK_OWNER`]), encrypted; views show
//! the URL's host only and never the key.
//!
//! Delivery retries with the HTTP core's policy ([`prisma_client::retry`]: full-jitter backoff,
//! `Retry-After`, which statuses are worth another attempt); when the attempts are spent, or
//! the sink refuses for good (another 4xx), the delivery is `dead` — the dead-letter list.
//!
//! # Stuck deliveries
//!
//! A delivery is `pending` from the moment its notification is inserted until its worker
//! records the outcome; a worker that dies in between leaves it `pending` for ever. [`sweep`]
//! (run by the watch every round, and by the dead-letter page's *Retry*) takes over every
//! `pending` delivery untouched for longer than a delivery can take ([`stale_after`]), each
//! claimed by one replica only ([`cortex_store::Store::claim_stale_deliveries`]), and delivers
//! it again. A re-queued dead letter is `pending` and due at once.
//!
//! # The webhook signature
//!
//! Headers: `X-Cortex-Event` (the kind), `X-Cortex-Delivery` (the notification's id),
//! `X-Cortex-Timestamp` (Unix seconds when sent) and
//! `X-Cortex-Signature: sha256=<hex HMAC-SHA256(signing key, "<timestamp>.<body>")>`, where
//! `<body>` is the exact request body bytes. A receiver recomputes it, compares in constant
//! time, and refuses timestamps far from its clock (replays).

use std::time::{Duration, SystemTime};

use hmac::{Hmac, KeyInit, Mac};
use prisma_client::retry::{RetryPolicy, is_retryable_status, parse_retry_after};
use prisma_types::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::error::EngineError;
use crate::request::{FieldError, RequestErrors};

/// The store owner of the sinks' secrets.
pub const SINK_OWNER: &str = "notification_sink";

pub const SIGNATURE_HEADER: &str = "x-cortex-signature";
pub const TIMESTAMP_HEADER: &str = "x-cortex-timestamp";
pub const EVENT_HEADER: &str = "x-cortex-event";
pub const DELIVERY_HEADER: &str = "x-cortex-delivery";

/// Where a sink delivers, and in which shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// The notification's JSON, signed (see the module docs).
    Webhook,
    /// `{"text": …}`, what Slack's incoming webhooks (and Mattermost, Rocket.Chat) accept.
    Slack,
    /// A message with one Adaptive Card, what a Teams "Workflows" webhook accepts.
    Teams,
}

impl SinkKind {
    fn parse(raw: &str) -> Option<SinkKind> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "webhook" => Some(SinkKind::Webhook),
            "slack" => Some(SinkKind::Slack),
            "teams" => Some(SinkKind::Teams),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Webhook => "webhook",
            SinkKind::Slack => "slack",
            SinkKind::Teams => "teams",
        }
    }
}

/// A validated sink.
#[derive(Clone, Debug)]
pub struct Sink {
    pub name: String,
    pub kind: SinkKind,
    pub url: SecretString,
    /// Required for a webhook; unused by Slack and Teams (their URL is the credential).
    pub signing_key: Option<SecretString>,
}

/// A sink as the API and the CLI send it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSink {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub url: Option<String>,
    pub signing_key: Option<String>,
}

/// A sink as it may be shown: the URL's scheme and host only, the key as present or not.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SinkView {
    pub name: String,
    pub kind: SinkKind,
    /// `https://hooks.slack.com/…`: never the path (Slack's and Teams' paths are the secret).
    pub url: String,
    pub signed: bool,
}

fn field(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

impl RawSink {
    pub fn validate(&self) -> Result<Sink, RequestErrors> {
        let mut errors = Vec::new();
        let name = self.name.as_deref().unwrap_or("").trim().to_owned();
        let name_ok = !name.is_empty()
            && name.len() <= 40
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-');
        if !name_ok {
            errors.push(field(
                "name",
                "a sink name is 1 to 40 lower-case letters, digits and dashes (e.g. ops-webhook)",
            ));
        }
        let kind = SinkKind::parse(self.kind.as_deref().unwrap_or(""));
        if kind.is_none() {
            errors.push(field("kind", "kind must be webhook, slack or teams"));
        }
        let url = self.url.as_deref().unwrap_or("").trim().to_owned();
        if let Err(message) = check_url(&url) {
            errors.push(field("url", message));
        }
        let key = self
            .signing_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty());
        match (kind, key) {
            (Some(SinkKind::Webhook), None) => errors.push(field(
                "signing_key",
                "a webhook needs a signing key (at least 16 characters) for its HMAC signature",
            )),
            (_, Some(k)) if k.len() < 16 => errors.push(field(
                "signing_key",
                "the signing key must be at least 16 characters",
            )),
            _ => {}
        }
        if !errors.is_empty() {
            return Err(RequestErrors { errors });
        }
        Ok(Sink {
            name,
            kind: kind.unwrap_or(SinkKind::Webhook),
            url: SecretString::new(url),
            signing_key: key.map(|k| SecretString::new(k.to_owned())),
        })
    }
}

/// `https://…`, or `http://` to a loopback host (a local receiver, tests). Never echoes the URL.
fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| "url must be an absolute http(s) URL (it is not shown back)".to_owned())?;
    let host = parsed.host_str().unwrap_or("");
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("url must be https (http only to a loopback address)".to_owned()),
    }
}

/// What is stored (encrypted) for a sink.
#[derive(Serialize, Deserialize)]
struct StoredSink {
    kind: SinkKind,
    url: String,
    #[serde(default)]
    signing_key: Option<String>,
}

impl Sink {
    pub fn view(&self) -> SinkView {
        let shown = reqwest::Url::parse(self.url.expose())
            .map(|u| format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("")))
            .unwrap_or_else(|_| "(unreadable)".to_owned());
        SinkView {
            name: self.name.clone(),
            kind: self.kind,
            url: shown,
            signed: self.signing_key.is_some(),
        }
    }

    fn seal(&self) -> SecretString {
        let stored = StoredSink {
            kind: self.kind,
            url: self.url.expose().to_owned(),
            signing_key: self.signing_key.as_ref().map(|k| k.expose().to_owned()),
        };
        SecretString::new(serde_json::to_string(&stored).unwrap_or_default())
    }

    fn open(name: &str, value: &SecretString) -> Option<Sink> {
        let stored: StoredSink = serde_json::from_str(value.expose()).ok()?;
        Some(Sink {
            name: name.to_owned(),
            kind: stored.kind,
            url: SecretString::new(stored.url),
            signing_key: stored.signing_key.map(SecretString::new),
        })
    }
}

/// Saves (or replaces) a sink, encrypted.
pub async fn save_sink(store: &cortex_store::Store, sink: &Sink) -> Result<(), EngineError> {
    store
        .put_secret(SINK_OWNER, &sink.name, &sink.seal())
        .await?;
    Ok(())
}

/// Deletes a sink; `false` if there was none.
pub async fn delete_sink(store: &cortex_store::Store, name: &str) -> Result<bool, EngineError> {
    Ok(store.delete_secret(SINK_OWNER, name).await?)
}

/// Every saved sink that decrypts and parses (others are skipped with a warning).
pub async fn load_sinks(store: &cortex_store::Store) -> Result<Vec<Sink>, EngineError> {
    let mut sinks = Vec::new();
    for name in store.list_secret_names(SINK_OWNER).await? {
        match store.get_secret(SINK_OWNER, &name).await {
            Ok(Some(value)) => match Sink::open(&name, &value) {
                Some(sink) => sinks.push(sink),
                None => tracing::warn!(sink = %name, "notification sink unreadable; save it again"),
            },
            Ok(None) => {}
            Err(e) => tracing::warn!(sink = %name, error = %e, "notification sink not decrypted"),
        }
    }
    Ok(sinks)
}

/// `sha256=<hex>` of HMAC-SHA256(key, "<timestamp>.<body>").
pub fn signature(key: &SecretString, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// The body a sink receives for a notification's payload.
pub fn render(kind: SinkKind, payload: &Value) -> Value {
    let summary = payload["summary"]
        .as_str()
        .unwrap_or("azure-cortex notification");
    match kind {
        SinkKind::Webhook => payload.clone(),
        SinkKind::Slack => json!({ "text": summary }),
        SinkKind::Teams => json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": "azure-cortex", "weight": "Bolder"},
                        {"type": "TextBlock", "text": summary, "wrap": true},
                    ],
                },
            }],
        }),
    }
}

/// How one delivery ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub delivered: bool,
    pub attempts: u32,
    /// Why the last attempt failed (status or transport kind; never the URL).
    pub last_error: Option<String>,
}

/// Sends one notification to one sink, retrying as the policy says.
pub async fn deliver(
    http: &reqwest::Client,
    policy: &RetryPolicy,
    sink: &Sink,
    notification_id: i64,
    event: &str,
    payload: &Value,
) -> Outcome {
    let body = serde_json::to_vec(&render(sink.kind, payload)).unwrap_or_default();
    let started = std::time::Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut request = http
            .post(sink.url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, event)
            .header(DELIVERY_HEADER, notification_id.to_string())
            .header(TIMESTAMP_HEADER, timestamp.to_string());
        if let Some(key) = &sink.signing_key
            && sink.kind == SinkKind::Webhook
        {
            request = request.header(SIGNATURE_HEADER, signature(key, timestamp, &body));
        }
        let (error, retryable, retry_after) = match request.body(body.clone()).send().await {
            Ok(r) if r.status().is_success() => {
                return Outcome {
                    delivered: true,
                    attempts: attempt,
                    last_error: None,
                };
            }
            Ok(r) => {
                let status = r.status().as_u16();
                let hint = r
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                (format!("HTTP {status}"), is_retryable_status(status), hint)
            }
            // The error's text names the URL, which is a secret: only its kind.
            Err(e) => (transport_kind(&e).to_owned(), true, None),
        };
        let delay = policy.delay(attempt, retry_after);
        if !retryable
            || attempt >= policy.max_attempts
            || started.elapsed() + delay > policy.call_deadline
        {
            return Outcome {
                delivered: false,
                attempts: attempt,
                last_error: Some(error),
            };
        }
        tokio::time::sleep(delay).await;
    }
}

fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection refused or unreachable"
    } else {
        "transport error"
    }
}

/// The retry policy for sinks: fewer attempts than an API call, within a minute.
pub fn default_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(10),
        max_retry_after: Duration::from_secs(30),
        call_deadline: Duration::from_secs(60),
    }
}

/// The HTTP client deliveries use: a 10 s timeout per attempt, no redirects (a redirect could
/// carry the signed body elsewhere).
pub fn sink_client() -> Result<reqwest::Client, EngineError> {
    reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| EngineError::Workspace(format!("HTTP client for sinks: {e}")))
}

/// One attempt's timeout.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a `pending` delivery may go untouched before [`sweep`] takes it over: longer than
/// a delivery under `policy` can take (its deadline plus a last attempt's timeout).
pub fn stale_after(policy: &RetryPolicy) -> Duration {
    policy.call_deadline + ATTEMPT_TIMEOUT * 2
}

/// What one [`sweep`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Stuck or re-queued deliveries this replica took over.
    pub claimed: usize,
    pub delivered: usize,
    /// Dead again (retries spent, or the sink was deleted since).
    pub dead: usize,
}

/// Delivers every `pending` delivery untouched since before `now_ms - stale` (at most `limit`),
/// each taken over by exactly one of the replicas sweeping at once.
pub async fn sweep(
    store: &cortex_store::Store,
    http: &reqwest::Client,
    policy: &RetryPolicy,
    stale: Duration,
    now_ms: i64,
    limit: u32,
) -> Result<SweepReport, EngineError> {
    let stale_ms = i64::try_from(stale.as_millis()).unwrap_or(i64::MAX);
    let claimed = store
        .claim_stale_deliveries(now_ms.saturating_sub(stale_ms), now_ms, limit)
        .await?;
    let mut report = SweepReport {
        claimed: claimed.len(),
        ..SweepReport::default()
    };
    if claimed.is_empty() {
        return Ok(report);
    }
    let sinks = load_sinks(store).await?;
    for (id, sink_name) in claimed {
        let Some(record) = store.delivery(id, &sink_name).await? else {
            continue;
        };
        let outcome = match sinks.iter().find(|s| s.name == sink_name) {
            Some(sink) => deliver(http, policy, sink, id, &record.kind, &record.payload).await,
            None => Outcome {
                delivered: false,
                attempts: 0,
                last_error: Some("the sink was deleted".to_owned()),
            },
        };
        let state = if outcome.delivered {
            report.delivered += 1;
            "delivered"
        } else {
            report.dead += 1;
            tracing::warn!(sink = %sink_name, kind = %record.kind, error = ?outcome.last_error, "swept notification not delivered; it is in the dead-letter list");
            "dead"
        };
        store
            .set_delivery(
                id,
                &sink_name,
                state,
                record.attempts + i64::from(outcome.attempts),
                outcome.last_error.as_deref(),
                now_ms,
            )
            .await?;
    }
    Ok(report)
}
