//! The onboarding wizard for a Cortex Cloud connection (`/onboard?connection=NAME` when NAME is
//! a Cortex Cloud connection; the form posts back to `/onboard` with `platform=cortex`).
//!
//! Cortex Cloud's options in its own terms (fact sheet sections 4.1 and 6): the scope (tenant,
//! management group or subscription) with its IDs, include or exclude lists of subscriptions
//! and regions, the security capabilities with a sentence each ([`super::cortex_words`]),
//! registry scanning options, audit logs and their method, scan mode and outpost, tags, and
//! whether to stop for approval after the Terraform plan.
//!
//! The form becomes a [`RawCortexRequest`] — the same JSON object `POST
//! /api/v1/cortex/onboardings` takes — and is validated by the same
//! [`RawCortexRequest::validate`], so a field is refused exactly as the API refuses it. Every
//! problem is listed at the top and shown again next to its field (`aria-invalid`, the message
//! tied to the field by `aria-describedby`), with every value kept. Accepted, it is submitted
//! with `Engine::submit_cortex` and the browser lands on the job's page. No field of this form
//! is a secret: the Cortex key stays in the connection.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use onboarding_engine::Platform;
use onboarding_engine::cortex::RawCortexRequest;

use super::cortex_words::{CAPABILITIES, CapabilityWords};
use super::onboard::Problem;
use super::{FormCaller, FormPage, Nav, PageAction, Refused, no_store};
use crate::error::ApiError;
use crate::extract::FormFields;
use crate::state::AppState;

/// A field's value as typed and its problem, if any.
#[derive(Default)]
pub struct Field {
    pub value: String,
    pub error: Option<String>,
}

/// A capability checkbox.
pub struct CapabilityChoice {
    pub words: &'static CapabilityWords,
    pub checked: bool,
}

/// A Cortex Cloud connection to choose.
pub struct CortexOption {
    pub name: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "onboard_cortex.html")]
pub struct CortexOnboardPage {
    pub nav: Nav,
    pub connections: Vec<CortexOption>,
    pub connection: Field,
    pub instance_name: Field,
    /// `tenant`, `management_group` or `subscription`.
    pub scope: Field,
    pub tenant_id: Field,
    pub subscription_id: Field,
    pub management_group_id: Field,
    pub location: Field,
    /// `all`, `include` or `exclude`.
    pub subscriptions_mode: String,
    pub subscriptions: Field,
    pub regions_mode: String,
    pub regions: Field,
    pub capability_choices: Vec<CapabilityChoice>,
    pub capabilities: Field,
    pub registry_scanning_type: Field,
    pub registry_last_days: Field,
    pub audit_logs: bool,
    pub audit_logs_method: Field,
    pub audit_logs_data_events: bool,
    pub scan_mode: Field,
    pub outpost_id: Field,
    pub cloud_environment: Field,
    pub tags: Field,
    pub require_approval: bool,
    pub problems: Vec<Problem>,
}

/// The form's field a request field's problem is shown next to.
fn form_field(request_field: &str) -> &str {
    match request_field {
        "include_subscriptions" | "exclude_subscriptions" => "subscriptions",
        "include_regions" | "exclude_regions" => "regions",
        other => other.split('.').next().unwrap_or(other),
    }
}

/// The Cortex Cloud connections to offer (readable ones), `chosen` selected.
pub(super) async fn cortex_options(state: &AppState, chosen: &str) -> Vec<CortexOption> {
    let views = state.engine().list_connections().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "connections not listed for the Cortex onboarding form");
        Vec::new()
    });
    views
        .into_iter()
        .filter(|c| c.problem.is_none() && c.platform == Platform::Cortex)
        .map(|c| CortexOption {
            label: format!("{} ({})", c.name, c.api_url),
            selected: c.name == chosen,
            name: c.name,
        })
        .collect()
}

impl CortexOnboardPage {
    /// An empty form for `connection` (the defaults the API applies, shown).
    fn blank(nav: Nav, connections: Vec<CortexOption>, connection: &str) -> Self {
        let text = |v: &str| Field {
            value: v.to_owned(),
            error: None,
        };
        CortexOnboardPage {
            nav,
            connections,
            connection: text(connection),
            instance_name: Field::default(),
            scope: text("subscription"),
            tenant_id: Field::default(),
            subscription_id: Field::default(),
            management_group_id: Field::default(),
            location: text(azure_config::cortex::DEFAULT_LOCATION),
            subscriptions_mode: "all".into(),
            subscriptions: Field::default(),
            regions_mode: "all".into(),
            regions: Field::default(),
            capability_choices: CAPABILITIES
                .iter()
                .map(|words| CapabilityChoice {
                    words,
                    checked: true,
                })
                .collect(),
            capabilities: Field::default(),
            registry_scanning_type: text("ALL"),
            registry_last_days: Field::default(),
            audit_logs: true,
            audit_logs_method: text("AUTOMATED"),
            audit_logs_data_events: false,
            scan_mode: text("MANAGED"),
            outpost_id: Field::default(),
            cloud_environment: text("public"),
            tags: Field::default(),
            require_approval: true,
            problems: Vec::new(),
        }
    }

    /// The values a link fills in (see [`page`]); each at most 4,000 characters.
    fn prefill(&mut self, query: &FormFields) {
        for name in [
            "scope",
            "tenant_id",
            "management_group_id",
            "subscription_id",
            "subscriptions",
        ] {
            let value: String = query.get(name).chars().take(4000).collect();
            if let (false, Some(field)) = (value.is_empty(), self.field_mut(name)) {
                // A list arrives comma-separated; the form shows one per line.
                field.value = if name == "subscriptions" {
                    items(&value).join("\n")
                } else {
                    value
                };
            }
        }
        let mode = query.get("subscriptions_mode");
        if matches!(mode.as_str(), "all" | "include" | "exclude") {
            self.subscriptions_mode = mode;
        }
    }

    /// The field named `name` (as [`form_field`] names them), for attaching a problem.
    fn field_mut(&mut self, name: &str) -> Option<&mut Field> {
        Some(match name {
            "connection" => &mut self.connection,
            "instance_name" => &mut self.instance_name,
            "scope" => &mut self.scope,
            "tenant_id" => &mut self.tenant_id,
            "subscription_id" => &mut self.subscription_id,
            "management_group_id" => &mut self.management_group_id,
            "location" => &mut self.location,
            "subscriptions" => &mut self.subscriptions,
            "regions" => &mut self.regions,
            "capabilities" => &mut self.capabilities,
            "registry_scanning_type" => &mut self.registry_scanning_type,
            "registry_last_days" => &mut self.registry_last_days,
            "audit_logs_method" => &mut self.audit_logs_method,
            "scan_mode" => &mut self.scan_mode,
            "outpost_id" => &mut self.outpost_id,
            "cloud_environment" => &mut self.cloud_environment,
            "tags" => &mut self.tags,
            _ => return None,
        })
    }

    /// Lists `problems` at the top and shows each next to its field.
    fn refuse(&mut self, problems: Vec<Problem>) {
        for p in &problems {
            if let Some(f) = self.field_mut(form_field(&p.field)) {
                f.error = Some(match f.error.take() {
                    Some(before) => format!("{before}; {}", p.message),
                    None => p.message.clone(),
                });
            }
        }
        self.problems = problems;
    }
}

/// The items of a list typed one per line or comma-separated.
fn items(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What the form says: the request, the page showing the values again, and the problems the
/// form itself finds (a tag without `=`, days that are not a number) before validation.
pub(super) fn request_of(
    form: &FormFields,
    nav: Nav,
    connections: Vec<CortexOption>,
) -> (RawCortexRequest, CortexOnboardPage, Vec<Problem>) {
    let mut page = CortexOnboardPage::blank(nav, connections, &form.get("connection"));
    let mut problems = Vec::new();
    let set = |f: &mut Field, v: String| f.value = v;
    for (name, field) in [
        ("instance_name", &mut page.instance_name),
        ("scope", &mut page.scope),
        ("tenant_id", &mut page.tenant_id),
        ("subscription_id", &mut page.subscription_id),
        ("management_group_id", &mut page.management_group_id),
        ("location", &mut page.location),
        ("subscriptions", &mut page.subscriptions),
        ("regions", &mut page.regions),
        ("registry_scanning_type", &mut page.registry_scanning_type),
        ("registry_last_days", &mut page.registry_last_days),
        ("audit_logs_method", &mut page.audit_logs_method),
        ("scan_mode", &mut page.scan_mode),
        ("outpost_id", &mut page.outpost_id),
        ("cloud_environment", &mut page.cloud_environment),
    ] {
        set(field, form.get(name));
    }
    page.tags.value = form.raw("tags");
    page.subscriptions_mode = form.get("subscriptions_mode");
    page.regions_mode = form.get("regions_mode");
    let chosen = form.all("capabilities");
    for c in &mut page.capability_choices {
        c.checked = chosen.iter().any(|v| v == c.words.value);
    }
    page.audit_logs = !form.get("audit_logs").is_empty();
    page.audit_logs_data_events = !form.get("audit_logs_data_events").is_empty();
    page.require_approval = !form.get("require_approval").is_empty();

    let opt = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    let scope = page.scope.value.as_str();
    // A field the chosen scope or option does not use is not sent (the form shows every field
    // without JavaScript), so it cannot be refused for being there.
    let list = |mode: &str, text: &str, want: &str| (mode == want).then(|| items(text));
    let subs_apply = scope != "subscription";
    let registry_on = chosen.iter().any(|c| c == "registry_scanning");
    let registry_type = page.registry_scanning_type.value.clone();
    let last_days = match (
        registry_on,
        registry_type.as_str(),
        page.registry_last_days.value.as_str(),
    ) {
        (true, "TAGS_MODIFIED_DAYS", "") => None,
        (true, "TAGS_MODIFIED_DAYS", days) => match days.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                problems.push(Problem {
                    field: "registry_last_days".into(),
                    message: "must be a whole number of days, 0 to 90".into(),
                });
                None
            }
        },
        _ => None,
    };
    let mut tags = BTreeMap::new();
    for line in page
        .tags
        .value
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        match line.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                tags.insert(k.trim().to_owned(), v.trim().to_owned());
            }
            _ => {
                problems.push(Problem {
                    field: "tags".into(),
                    message: "one tag per line, written key=value".into(),
                });
                break;
            }
        }
    }
    let outpost = page.scan_mode.value.eq_ignore_ascii_case("OUTPOST");
    let raw = RawCortexRequest {
        connection: opt(&page.connection.value),
        instance_name: opt(&page.instance_name.value),
        tenant_id: opt(&page.tenant_id.value),
        scope: opt(scope),
        subscription_id: opt(&page.subscription_id.value),
        management_group_id: if scope == "management_group" {
            opt(&page.management_group_id.value)
        } else {
            None
        },
        location: opt(&page.location.value),
        include_subscriptions: subs_apply
            .then(|| {
                list(
                    &page.subscriptions_mode,
                    &page.subscriptions.value,
                    "include",
                )
            })
            .flatten(),
        exclude_subscriptions: subs_apply
            .then(|| {
                list(
                    &page.subscriptions_mode,
                    &page.subscriptions.value,
                    "exclude",
                )
            })
            .flatten(),
        include_regions: list(&page.regions_mode, &page.regions.value, "include"),
        exclude_regions: list(&page.regions_mode, &page.regions.value, "exclude"),
        capabilities: Some(chosen),
        registry_scanning_type: registry_on.then(|| opt(&registry_type)).flatten(),
        registry_last_days: last_days,
        audit_logs: Some(page.audit_logs),
        audit_logs_method: page
            .audit_logs
            .then(|| opt(&page.audit_logs_method.value))
            .flatten(),
        audit_logs_data_events: page.audit_logs.then_some(page.audit_logs_data_events),
        scan_mode: opt(&page.scan_mode.value),
        outpost_id: outpost.then(|| opt(&page.outpost_id.value)).flatten(),
        cloud_environment: opt(&page.cloud_environment.value),
        tags: Some(tags),
        require_approval: Some(page.require_approval),
    };
    (raw, page, problems)
}

/// `GET /onboard?connection=NAME` for a Cortex Cloud connection. The Coverage page links it
/// filled in (`scope`, `tenant_id`, `management_group_id`, `subscription_id`,
/// `subscriptions_mode`, `subscriptions`): those values are shown, the rest keep their
/// defaults, and nothing is validated until the form is submitted.
pub(super) async fn page(
    state: &AppState,
    nav: Nav,
    connection: &str,
    query: &FormFields,
) -> Response {
    let connections = cortex_options(state, connection).await;
    let mut page = CortexOnboardPage::blank(nav, connections, connection);
    page.prefill(query);
    no_store((StatusCode::OK, page).into_response())
}

/// `POST /onboard` with `platform=cortex`.
pub(super) async fn submit(state: &AppState, caller: FormCaller, form: &FormFields) -> Response {
    let this = FormPage {
        path: "/onboard",
        secret: None,
    };
    let connections = cortex_options(state, &form.get("connection")).await;
    let who = match caller.permit(PageAction::Onboard, &this) {
        Ok(who) => who,
        Err(Refused::SignIn(to)) => return to.into_response(),
        Err(Refused::Page {
            who,
            status,
            problem,
        }) => {
            let (_, mut page, _) = request_of(form, Nav::of(&who), connections);
            page.refuse(vec![problem]);
            return no_store((status, page).into_response());
        }
    };
    let (raw, mut page, mut form_problems) = request_of(form, Nav::of(&who), connections);
    let (status, mut problems) = match raw.validate() {
        Ok(request) if form_problems.is_empty() => {
            match state.engine().submit_cortex(&request, &who.actor()).await {
                Ok(id) => return Redirect::to(&format!("/jobs/{id}")).into_response(),
                Err(e) => {
                    let e = ApiError::from(e);
                    (e.status, super::problems_of(&e, "request"))
                }
            }
        }
        Ok(_) => (StatusCode::BAD_REQUEST, Vec::new()),
        Err(errors) => (
            StatusCode::BAD_REQUEST,
            errors
                .errors
                .into_iter()
                .map(|e| Problem {
                    field: e.field,
                    message: e.message,
                })
                .collect(),
        ),
    };
    form_problems.append(&mut problems);
    page.refuse(form_problems);
    no_store((status, page).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::May;

    fn nav() -> Nav {
        Nav {
            user: "t".into(),
            role: "operator".into(),
            csrf: String::new(),
            may: May::of(crate::auth::Role::Operator),
        }
    }

    fn form(body: &str) -> FormFields {
        FormFields::parse(body)
    }

    #[test]
    fn fields_of_other_choices_are_not_sent_and_lists_go_to_include_or_exclude() {
        let (raw, _, problems) = request_of(
            &form(
                "connection=cortex-sandbox&scope=tenant&tenant_id=t&subscription_id=s\
                 &management_group_id=mg-x&subscriptions_mode=exclude&subscriptions=a%0Ab,c\
                 &regions_mode=all&regions=eastus&capabilities=serverless_scanning\
                 &registry_scanning_type=LATEST_TAG&scan_mode=MANAGED&outpost_id=zz\
                 &tags=team%3Dsec%0Aenv+%3D+prod",
            ),
            nav(),
            Vec::new(),
        );
        assert!(problems.is_empty());
        assert_eq!(raw.management_group_id, None, "not at tenant scope");
        assert_eq!(
            raw.exclude_subscriptions.as_deref(),
            Some(&["a".to_owned(), "b".into(), "c".into()][..])
        );
        assert_eq!(raw.include_subscriptions, None);
        assert_eq!(raw.include_regions, None);
        assert_eq!(raw.exclude_regions, None);
        assert_eq!(raw.registry_scanning_type, None, "registry is not chosen");
        assert_eq!(raw.outpost_id, None, "managed scanning");
        assert_eq!(raw.audit_logs, Some(false));
        assert_eq!(raw.audit_logs_method, None);
        let tags = raw.tags.unwrap();
        assert_eq!(tags["env"], "prod");
        assert_eq!(tags["team"], "sec");
    }

    #[test]
    fn every_problem_is_shown_next_to_its_field() {
        let (raw, mut page, mut problems) = request_of(
            &form(
                "connection=cortex-sandbox&scope=subscription&tenant_id=nope\
                 &subscription_id=00000000-0000-0000-0000-000000000001&regions_mode=include\
                 &regions=&capabilities=registry_scanning&registry_scanning_type=TAGS_MODIFIED_DAYS\
                 &registry_last_days=soon&tags=novalue",
            ),
            nav(),
            Vec::new(),
        );
        let errors = raw.validate().unwrap_err();
        problems.extend(errors.errors.into_iter().map(|e| Problem {
            field: e.field,
            message: e.message,
        }));
        page.refuse(problems);
        let fields: Vec<&str> = page.problems.iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"tenant_id"), "{fields:?}");
        assert!(fields.contains(&"include_regions"), "{fields:?}");
        assert!(fields.contains(&"registry_last_days"), "{fields:?}");
        assert!(fields.contains(&"tags"), "{fields:?}");
        assert!(page.tenant_id.error.is_some());
        assert!(
            page.regions.error.is_some(),
            "include_regions shows at regions"
        );
        assert!(page.registry_last_days.error.is_some());
        assert!(page.tags.error.is_some());
        assert!(page.subscription_id.error.is_none());
        assert_eq!(page.tenant_id.value, "nope", "values are kept");
        let html = page.render().unwrap();
        assert!(html.contains("id=\"tenant_id-error\""), "{html}");
        assert!(html.contains("aria-invalid=\"true\""));
    }
}
