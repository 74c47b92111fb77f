//! What the job page derives from a job's stored request and events: the header saying exactly
//! what is being onboarded, one entry per capability (a card for each failing one: why, the
//! fix, the docs), and the plan review in words.
//!
//! The job page's script updates the same elements live from the same events (keyed by
//! capability), so the page has one source for each fact and never shows a fix twice.

use azure_config::plan_words::{self, PlanContext};
use cortex_store::StoredEvent;
use onboarding_engine::{GroupRef, IdentitySource, OnboardingRequest, Scope};
use serde_json::Value;

use super::{Badge, badge};

/// One line of the header: "Tenant id: 0a1b…".
pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

/// Everything the request says, in the operator's words.
pub fn facts_of(r: &OnboardingRequest) -> Vec<Fact> {
    let mut facts = Vec::new();
    let mut fact = |label: &'static str, value: String| facts.push(Fact { label, value });
    let list = |items: Vec<String>| items.join(", ");
    match &r.scope {
        Scope::Subscription {
            subscription_id,
            tenant_id,
        } => {
            fact("Scope", "One subscription".into());
            fact("Subscription id", subscription_id.to_string());
            fact("Tenant id", tenant_id.to_string());
        }
        Scope::Tenant {
            tenant_id,
            include_management_groups,
            exclude_management_groups,
            include_subscriptions,
            exclude_subscriptions,
        } => {
            fact(
                "Scope",
                "A tenant: its management groups and subscriptions".into(),
            );
            fact("Tenant id", tenant_id.to_string());
            let whole = include_management_groups.is_empty() && include_subscriptions.is_empty();
            fact(
                "Management groups",
                if whole {
                    "the whole tenant".into()
                } else if include_management_groups.is_empty() {
                    "none beyond the subscriptions below".into()
                } else {
                    format!(
                        "only {}",
                        list(
                            include_management_groups
                                .iter()
                                .map(|m| m.to_string())
                                .collect()
                        )
                    )
                },
            );
            if !include_subscriptions.is_empty() {
                fact(
                    "Also these subscriptions",
                    list(
                        include_subscriptions
                            .iter()
                            .map(|s| s.to_string())
                            .collect(),
                    ),
                );
            }
            fact(
                "Except management groups",
                if exclude_management_groups.is_empty() {
                    "none".into()
                } else {
                    list(
                        exclude_management_groups
                            .iter()
                            .map(|m| m.to_string())
                            .collect(),
                    )
                },
            );
            fact(
                "Except subscriptions",
                if exclude_subscriptions.is_empty() {
                    "none".into()
                } else {
                    list(
                        exclude_subscriptions
                            .iter()
                            .map(|s| s.to_string())
                            .collect(),
                    )
                },
            );
        }
        Scope::Entra { tenant_id } => {
            fact("Scope", "Microsoft Entra ID only".into());
            fact("Tenant id", tenant_id.to_string());
        }
    }
    if r.environment != prisma_types::Environment::Azure {
        fact("Cloud", r.environment.to_string());
    }
    if !matches!(r.scope, Scope::Entra { .. }) {
        let mut features = vec!["Cloud Visibility, Compliance and Governance".to_owned()];
        features.extend(r.features.iter().map(|f| f.display_name().to_owned()));
        fact("Features", list(features));
        fact("Flow logs", if r.flow_logs { "on" } else { "off" }.into());
    }
    let groups: Vec<String> = r
        .groups
        .iter()
        .map(|g| match g {
            GroupRef::Id(id) => id.to_string(),
            GroupRef::Name(n) => n.clone(),
        })
        .collect();
    fact(
        "Account groups",
        if r.create_missing_groups {
            format!("{} (created if missing)", list(groups))
        } else {
            list(groups)
        },
    );
    fact(
        "Azure identity",
        match &r.identity {
            IdentitySource::Builtin {
                secret_rotation_days,
                directory_readers,
                audit_log_export,
            } => {
                let mut text = format!(
                    "created with our Terraform configuration; the client secret rotates every \
                     {secret_rotation_days} days"
                );
                if *directory_readers {
                    text.push_str("; Directory Readers role");
                }
                if *audit_log_export {
                    text.push_str("; audit-log export to an Event Hub");
                }
                text
            }
            IdentitySource::SharedTenant {
                secret_rotation_days,
            } => format!(
                "the tenant's one identity, shared by the subscriptions onboarded in bulk (one \
                 app registration, each subscription granted its own roles); the client secret \
                 rotates every {secret_rotation_days} days"
            ),
            IdentitySource::PrismaTemplate => {
                "created with Prisma Cloud's Terraform template".into()
            }
            IdentitySource::Existing {
                client_id,
                service_principal_id,
            } => format!(
                "an existing app registration: client id {client_id}, service principal \
                 object id {service_principal_id} (its secret stored encrypted)"
            ),
        },
    );
    if r.uses_terraform() {
        fact(
            "Plan review",
            if r.require_approval {
                "stops after the plan until approved"
            } else {
                "applies without stopping"
            }
            .into(),
        );
    }
    fact(
        "If pre-flight checks fail",
        if r.register_anyway {
            "register anyway"
        } else {
            "stop before registering"
        }
        .into(),
    );
    fact("Prisma Cloud connection", r.connection_name().to_owned());
    facts
}

/// A capability as the page shows it: the latest status, and for a failing one why, the fix
/// and the docs.
pub struct CapabilityView {
    pub name: String,
    pub status_key: String,
    pub state: Badge,
    pub failing: bool,
    pub message: String,
    pub remediation: String,
    pub docs_url: String,
}

/// Whether a capability's status needs a card (why, the fix): not Prisma Cloud's `ok`, nor
/// Cortex Cloud's `connected`, `disabled` (not chosen) or `retrieving` (on its way).
pub fn is_failing(status: &str) -> bool {
    !matches!(status, "ok" | "connected" | "disabled" | "retrieving")
}

/// Each capability once (first-reported order), with its latest status.
pub fn capabilities_of(events: &[StoredEvent]) -> Vec<CapabilityView> {
    let mut out: Vec<CapabilityView> = Vec::new();
    for e in events
        .iter()
        .filter(|e| e.event["type"] == "capability_status")
    {
        let text = |k: &str| e.event[k].as_str().unwrap_or_default().to_owned();
        let status = text("status");
        let view = CapabilityView {
            name: text("capability"),
            state: badge(&status),
            failing: is_failing(&status),
            status_key: status,
            message: text("message"),
            remediation: text("remediation"),
            docs_url: text("docs_url"),
        };
        match out.iter_mut().find(|c| c.name == view.name) {
            Some(existing) => *existing = view,
            None => out.push(view),
        }
    }
    out
}

/// One group of the plan review: its title and its changes in words.
pub struct PlanGroupView {
    pub title: &'static str,
    pub items: Vec<PlanItemView>,
}

pub struct PlanItemView {
    pub text: String,
    /// Terraform's action in a word the plan summary also uses: add, change, destroy, replace.
    pub verb: &'static str,
    pub action: String,
    pub address: String,
}

fn verb(action: &str) -> &'static str {
    match action {
        "create" => "add",
        "update" => "change",
        "delete" => "destroy",
        "replace" => "replace",
        "read" => "read",
        _ => "keep",
    }
}

/// The newest plan's changes (each address once, its latest action), in words.
pub fn plan_words_of(
    events: &[StoredEvent],
    request: Option<&OnboardingRequest>,
) -> Vec<PlanGroupView> {
    let mut changes: Vec<(String, String)> = Vec::new();
    for e in events
        .iter()
        .filter(|e| e.event["type"] == "terraform_planned_change")
    {
        let address = e.event["address"].as_str().unwrap_or_default().to_owned();
        let action = e.event["action"].as_str().unwrap_or_default().to_owned();
        match changes.iter_mut().find(|(a, _)| *a == address) {
            Some(existing) => existing.1 = action,
            None => changes.push((address, action)),
        }
    }
    let ctx = request.map(plan_context).unwrap_or_default();
    plan_words::describe(&changes, &ctx)
        .into_iter()
        .map(|(group, words)| PlanGroupView {
            title: group.title(),
            items: words
                .into_iter()
                .map(|w| PlanItemView {
                    verb: verb(&w.action),
                    text: w.text,
                    action: w.action,
                    address: w.address,
                })
                .collect(),
        })
        .collect()
}

/// What the plan's words need from the request: where roles go, how long the secret lives.
pub fn plan_context(r: &OnboardingRequest) -> PlanContext {
    PlanContext {
        role_scope: r.role_scope(),
        secret_rotation_days: match &r.identity {
            IdentitySource::Builtin {
                secret_rotation_days,
                ..
            }
            | IdentitySource::SharedTenant {
                secret_rotation_days,
            } => Some(*secret_rotation_days),
            _ => None,
        },
    }
}

/// Whether a finished pre-flight step went past failing checks (`register_anyway`): its
/// checkpoint is the list of capability states.
pub fn preflight_warned(output: Option<&Value>) -> bool {
    output
        .and_then(Value::as_array)
        .is_some_and(|states| states.iter().any(|s| s["status"] != "ok"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use onboarding_engine::RawRequest;

    fn tenant_request() -> OnboardingRequest {
        RawRequest {
            scope: Some("tenant".into()),
            tenant_id: Some("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into()),
            include_management_groups: vec!["mg-prod".into()],
            exclude_management_groups: vec!["mg-sandbox".into()],
            exclude_subscriptions: vec!["8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f".into()],
            name: Some("contoso".into()),
            groups: vec!["Production".into()],
            create_missing_groups: true,
            features: vec!["Remediation".into()],
            flow_logs: true,
            identity: Some("prisma-template".into()),
            require_approval: true,
            connection: Some("eu-prod".into()),
            ..RawRequest::default()
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn the_header_names_every_part_of_the_request() {
        let facts = facts_of(&tenant_request());
        let get = |label: &str| {
            facts
                .iter()
                .find(|f| f.label == label)
                .map(|f| f.value.clone())
                .unwrap_or_else(|| panic!("{label} missing"))
        };
        assert_eq!(get("Tenant id"), "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
        assert_eq!(get("Management groups"), "only mg-prod");
        assert_eq!(get("Except management groups"), "mg-sandbox");
        assert_eq!(
            get("Except subscriptions"),
            "8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f"
        );
        assert!(get("Features").contains("Remediation"));
        assert_eq!(get("Flow logs"), "on");
        assert_eq!(get("Account groups"), "Production (created if missing)");
        assert!(get("Azure identity").contains("Prisma Cloud's Terraform template"));
        assert_eq!(get("Prisma Cloud connection"), "eu-prod");
        assert_eq!(get("If pre-flight checks fail"), "stop before registering");
        assert_eq!(get("Plan review"), "stops after the plan until approved");
    }

    #[test]
    fn the_plan_context_follows_the_scope() {
        assert_eq!(
            plan_context(&tenant_request()).role_scope,
            "tenant root management group 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
        );
    }

    #[test]
    fn a_preflight_warned_when_a_kept_state_is_not_ok() {
        let ok = serde_json::json!([{"name": "a", "status": "ok"}]);
        let bad =
            serde_json::json!([{"name": "a", "status": "ok"}, {"name": "b", "status": "error"}]);
        assert!(!preflight_warned(Some(&ok)));
        assert!(preflight_warned(Some(&bad)));
        assert!(!preflight_warned(None));
    }
}
