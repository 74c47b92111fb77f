//! The audit log: who did what, to what, and when — newest first, filtered by a word that
//! must appear in the actor, action or target.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};

use super::{Nav, PageError, PageUser, no_store, when};
use crate::extract::FormFields;
use crate::state::AppState;

/// How many of the newest entries the page looks through.
const LOOK_BACK: u32 = 1000;

pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub request_ids: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub nav: Nav,
    pub filter: String,
    pub entries: Vec<AuditRow>,
    pub shown_of: usize,
}

pub async fn audit_page(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let filter = FormFields::parse(query.as_deref().unwrap_or("")).get("q");
    let needle = filter.to_lowercase();
    let all = state.engine().store().list_audit(LOOK_BACK).await?;
    let shown_of = all.len();
    let entries = all
        .into_iter()
        .filter(|e| {
            needle.is_empty()
                || [&e.actor, &e.action, &e.target]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&needle))
        })
        .map(|e| AuditRow {
            at: when(e.at),
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: match &e.detail {
                serde_json::Value::Null => String::new(),
                d => d.to_string(),
            },
            request_ids: e.prisma_request_ids.join(", "),
        })
        .collect();
    Ok(no_store(
        AuditPage {
            nav: Nav::of(&p),
            filter,
            entries,
            shown_of,
        }
        .into_response(),
    ))
}
