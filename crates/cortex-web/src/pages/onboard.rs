//! The onboarding wizard (Prisma Cloud; a Cortex Cloud connection gets its own,
//! [`super::onboard_cortex`]): one page in numbered sections — scope, Prisma Cloud connection,
//! Azure identity, features (each saying what it needs in Azure), account groups, flow logs,
//! review — submitted as one request. With "review the plan" on (the default when Terraform
//! creates the identity), the job stops after `terraform plan` and its page is the review:
//! the plan's counts and resources, and an approve button before anything is applied.
//!
//! The form becomes the same JSON object the API takes, validated by the same code
//! (`routes::jobs::parse_row`), so a bad field is named exactly as the API names it.
//!
//! *Edit and retry* (`/onboard?from=<job>`, the job page's button): the wizard filled from the
//! job's stored request; submitting creates a new job. Settings the wizard has no field for
//! (cloud, secret lifetime, audit-log export, extra subscriptions, disabled) are carried as
//! hidden fields and named on the page. An existing identity's client secret is never sent to
//! the browser: it stays on the server and, left empty, is copied from the old job to the new
//! one — but only while the client id is the old job's (a secret belongs to one app
//! registration). Typing a secret replaces it. Why server-side rather than "type it again":
//! the secret is usually held by someone else and the retry is usually about Azure roles, not
//! the secret; it never leaves the encrypted store either way.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use prisma_types::Feature;
use serde_json::{Map, Value};

use axum::extract::RawQuery;
use cortex_store::JobId;
use onboarding_engine::{GroupRef, IdentitySource, OnboardingRequest, Scope};

use super::{FormCaller, FormPage, Nav, PageAction, PageError, PageUser, Refused, no_store};
use crate::error::ApiError;
use crate::extract::{FormFields, parse_id};
use crate::state::AppState;

pub struct FeatureOption {
    pub value: &'static str,
    pub label: &'static str,
    /// What the feature does, in one sentence, from the permission catalog the Terraform
    /// configuration uses.
    pub purpose: &'static str,
    /// The raw Azure roles and actions it adds (shown behind a toggle).
    pub details: Vec<String>,
    pub checked: bool,
}

/// An existing account group, offered as a checkbox.
pub struct GroupOption {
    pub name: String,
    pub checked: bool,
}

/// The wizard's values (never the client secret).
pub struct OnboardValues {
    pub scope: String,
    pub tenant_id: String,
    pub subscription_id: String,
    pub include_management_groups: String,
    pub exclude_management_groups: String,
    pub exclude_subscriptions: String,
    pub name: String,
    /// Group names typed in (besides the ticked ones); created when missing.
    pub new_groups: String,
    pub flow_logs: bool,
    pub identity: String,
    pub client_id: String,
    pub service_principal_id: String,
    pub directory_readers: bool,
    pub review: bool,
    /// The Prisma Cloud connection (`default` when none was chosen).
    pub connection: String,
    /// Register even when the pre-flight checks fail.
    pub register_anyway: bool,
    /// *Edit and retry*: the job this form was filled from (empty otherwise).
    pub from_job: String,
    /// Settings without a field of their own, kept from that job (hidden fields).
    pub kept: Vec<KeptField>,
}

/// A request setting the wizard has no field for, carried from the edited job.
pub struct KeptField {
    pub name: &'static str,
    pub value: String,
    /// What it means, for the page: "secret lifetime 90 days".
    pub label: String,
}

/// The settings [`KeptField`] may carry (and `request_of` reads back).
const KEPT: [&str; 5] = [
    "environment",
    "enabled",
    "secret_rotation_days",
    "audit_log_export",
    "include_subscriptions",
];

impl Default for OnboardValues {
    fn default() -> Self {
        OnboardValues {
            scope: "subscription".into(),
            tenant_id: String::new(),
            subscription_id: String::new(),
            include_management_groups: String::new(),
            exclude_management_groups: String::new(),
            exclude_subscriptions: String::new(),
            name: String::new(),
            new_groups: String::new(),
            flow_logs: false,
            identity: "builtin".into(),
            client_id: String::new(),
            service_principal_id: String::new(),
            directory_readers: false,
            review: true,
            connection: "default".into(),
            register_anyway: false,
            from_job: String::new(),
            kept: Vec::new(),
        }
    }
}

pub struct Problem {
    pub field: String,
    pub message: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "onboard.html")]
pub struct OnboardPage {
    pub nav: Nav,
    pub values: OnboardValues,
    pub features: Vec<FeatureOption>,
    pub groups: Vec<GroupOption>,
    /// Why the existing groups could not be listed.
    pub groups_error: Option<String>,
    /// What flow logs do and need in Azure (from the permission catalog).
    pub flow_logs: azure_config::permissions::Needs,
    /// The Prisma Cloud connections to choose from.
    pub connections: Vec<ConnectionOption>,
    /// The Cortex Cloud connections, offered as links to their own wizard.
    pub cortex_connections: Vec<String>,
    pub problems: Vec<Problem>,
}

/// A choice of the wizard's connection list.
pub struct ConnectionOption {
    pub name: String,
    pub label: String,
    pub selected: bool,
}

/// The Prisma Cloud connections to offer (just `default` if the saved ones cannot be listed):
/// this wizard onboards into Prisma Cloud, so Cortex Cloud connections are not among them.
pub(super) async fn connection_options(state: &AppState, chosen: &str) -> Vec<ConnectionOption> {
    let views = state.engine().list_connections().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "connections not listed for the onboarding form");
        Vec::new()
    });
    let mut options: Vec<ConnectionOption> = views
        .into_iter()
        .filter(|c| c.problem.is_none() && c.platform == onboarding_engine::Platform::Prisma)
        .map(|c| ConnectionOption {
            label: if c.default {
                format!("{} — {} ({})", c.name, c.description, c.api_url)
            } else {
                format!("{} ({})", c.name, c.api_url)
            },
            selected: c.name == chosen,
            name: c.name,
        })
        .collect();
    if options.is_empty() {
        options.push(ConnectionOption {
            name: "default".into(),
            label: "default".into(),
            selected: true,
        });
    }
    if !options.iter().any(|o| o.selected) {
        options[0].selected = true;
    }
    options
}

pub(super) fn features(chosen: &[String]) -> Vec<FeatureOption> {
    Feature::ALL
        .into_iter()
        .map(|f| {
            let needs = azure_config::permissions::feature_needs(f);
            FeatureOption {
                value: f.short_name(),
                label: f.display_name(),
                purpose: needs.purpose,
                details: needs.details(),
                checked: chosen.iter().any(|c| c == f.short_name()),
            }
        })
        .collect()
}

/// The page with `values`; existing groups are listed from Prisma Cloud, the ticked ones kept.
async fn render(
    state: &AppState,
    nav: Nav,
    status: StatusCode,
    values: OnboardValues,
    chosen_features: &[String],
    chosen_groups: &[String],
    problems: Vec<Problem>,
) -> Response {
    let mut values = values;
    let (groups, groups_error) = match state.engine().client().list_account_groups().await {
        Ok(list) => (
            list.into_iter()
                .map(|g| GroupOption {
                    checked: chosen_groups.contains(&g.name)
                        || (chosen_groups.is_empty() && g.name == "Default Account Group"),
                    name: g.name,
                })
                .collect(),
            None,
        ),
        Err(e) => (
            Vec::new(),
            Some(format!(
                "Prisma Cloud could not list the account groups ({e}); type their names below."
            )),
        ),
    };
    // Chosen groups Prisma Cloud did not list (an edited job's, or when listing failed) are
    // kept as typed names.
    let unlisted: Vec<&str> = chosen_groups
        .iter()
        .filter(|c| !groups.iter().any(|g: &GroupOption| &g.name == *c))
        .map(String::as_str)
        .collect();
    if !unlisted.is_empty() {
        let mut typed: Vec<&str> = list_items(&values.new_groups);
        typed.extend(
            unlisted
                .iter()
                .filter(|u| !typed.contains(u))
                .collect::<Vec<_>>(),
        );
        values.new_groups = typed.join(", ");
    }
    let connections = connection_options(state, &values.connection).await;
    let cortex_connections = super::onboard_cortex::cortex_options(state, "")
        .await
        .into_iter()
        .map(|c| c.name)
        .collect();
    let page = OnboardPage {
        cortex_connections,
        nav,
        values,
        features: features(chosen_features),
        groups,
        groups_error,
        flow_logs: azure_config::permissions::flow_log_needs(),
        connections,
        problems,
    };
    no_store((status, page).into_response())
}

pub async fn onboard_page(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let query = FormFields::parse(query.as_deref().unwrap_or(""));
    let connection = query.get("connection");
    if !connection.is_empty()
        && super::onboard_cortex::cortex_options(&state, &connection)
            .await
            .iter()
            .any(|c| c.selected)
    {
        return Ok(super::onboard_cortex::page(&state, Nav::of(&p), &connection, &query).await);
    }
    let from = query.get("from");
    let (values, features, groups) = if from.is_empty() {
        // The Coverage page links `?scope=tenant&tenant_id=…` (a tenant account instead).
        let mut values = OnboardValues::default();
        if query.get("scope") == "tenant" {
            values.scope = "tenant".into();
        }
        values.tenant_id = query.get("tenant_id").chars().take(64).collect();
        (values, Vec::new(), Vec::new())
    } else {
        let id: JobId = parse_id("from", &from)?;
        let Some(job) = state.engine().store().get_job(id).await? else {
            return Err(ApiError::not_found(format!("job {id} not found")).into());
        };
        let request: OnboardingRequest = serde_json::from_value(job.request)
            .map_err(|e| ApiError::internal("the stored request of an edited job", &e))?;
        prefill(&request, &id.to_string())
    };
    Ok(render(
        &state,
        Nav::of(&p),
        StatusCode::OK,
        values,
        &features,
        &groups,
        Vec::new(),
    )
    .await)
}

/// The wizard's values, ticked features and groups for a stored request (*edit and retry*).
pub(super) fn prefill(
    r: &OnboardingRequest,
    from_job: &str,
) -> (OnboardValues, Vec<String>, Vec<String>) {
    let lines = |items: Vec<String>| items.join("\n");
    let mut v = OnboardValues {
        scope: r.scope.label().to_owned(),
        tenant_id: r.scope.tenant_id().to_string(),
        name: r.name.as_str().to_owned(),
        flow_logs: r.flow_logs,
        review: r.require_approval,
        connection: r.connection_name().to_owned(),
        register_anyway: r.register_anyway,
        from_job: from_job.to_owned(),
        ..OnboardValues::default()
    };
    let mut kept = Vec::new();
    match &r.scope {
        Scope::Subscription {
            subscription_id, ..
        } => v.subscription_id = subscription_id.to_string(),
        Scope::Tenant {
            include_management_groups,
            exclude_management_groups,
            include_subscriptions,
            exclude_subscriptions,
            ..
        } => {
            v.include_management_groups = lines(
                include_management_groups
                    .iter()
                    .map(|m| m.to_string())
                    .collect(),
            );
            v.exclude_management_groups = lines(
                exclude_management_groups
                    .iter()
                    .map(|m| m.to_string())
                    .collect(),
            );
            v.exclude_subscriptions = lines(
                exclude_subscriptions
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            );
            if !include_subscriptions.is_empty() {
                let ids: Vec<String> = include_subscriptions
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                kept.push(KeptField {
                    name: "include_subscriptions",
                    label: format!("also the subscriptions {}", ids.join(", ")),
                    value: ids.join(","),
                });
            }
        }
        Scope::Entra { .. } => {}
    }
    if r.environment != prisma_types::Environment::Azure {
        kept.push(KeptField {
            name: "environment",
            value: r.environment.as_str().to_owned(),
            label: format!("the cloud {}", r.environment),
        });
    }
    if !r.enabled {
        kept.push(KeptField {
            name: "enabled",
            value: "false".into(),
            label: "the account is added disabled".into(),
        });
    }
    match &r.identity {
        IdentitySource::Builtin {
            secret_rotation_days,
            directory_readers,
            audit_log_export,
        } => {
            v.identity = "builtin".into();
            v.directory_readers = *directory_readers;
            if *secret_rotation_days != azure_config::DEFAULT_SECRET_ROTATION_DAYS {
                kept.push(KeptField {
                    name: "secret_rotation_days",
                    value: secret_rotation_days.to_string(),
                    label: format!("a client secret valid {secret_rotation_days} days"),
                });
            }
            if *audit_log_export {
                kept.push(KeptField {
                    name: "audit_log_export",
                    value: "on".into(),
                    label: "audit-log export to an Event Hub".into(),
                });
            }
        }
        // Retried alone, a subscription of a bulk batch gets an identity of its own.
        IdentitySource::SharedTenant { .. } => v.identity = "builtin".into(),
        IdentitySource::PrismaTemplate => v.identity = "prisma-template".into(),
        IdentitySource::Existing {
            client_id,
            service_principal_id,
        } => {
            v.identity = "existing".into();
            v.client_id = client_id.to_string();
            v.service_principal_id = service_principal_id.to_string();
        }
    }
    v.kept = kept;
    let mut groups = Vec::new();
    let mut typed = Vec::new();
    for g in &r.groups {
        match g {
            GroupRef::Name(n) => groups.push(n.clone()),
            GroupRef::Id(id) => typed.push(id.to_string()),
        }
    }
    v.new_groups = typed.join(", ");
    let features = r
        .features
        .iter()
        .map(|f| f.short_name().to_owned())
        .collect();
    (v, features, groups)
}

/// The items of a list typed one per line or comma-separated.
fn list_items(text: &str) -> Vec<&str> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

/// A list typed one per line or comma-separated, as JSON strings.
fn list(text: &str) -> Vec<Value> {
    list_items(text)
        .into_iter()
        .map(|v| Value::String(v.to_owned()))
        .collect()
}

/// What the form says, as the API's request object (with `client_secret` for an existing
/// identity), the values to show again, and the ticked features and groups.
pub(super) struct Submitted {
    pub(super) request: Value,
    pub(super) values: OnboardValues,
    pub(super) features: Vec<String>,
    pub(super) groups: Vec<String>,
}

pub(super) fn request_of(form: &FormFields) -> Submitted {
    let one = |name: &str| form.get(name);
    let all = |name: &str| form.all(name);
    let or = |v: String, default: &str| if v.is_empty() { default.to_owned() } else { v };
    let values = OnboardValues {
        scope: or(one("scope"), "subscription"),
        tenant_id: one("tenant_id"),
        subscription_id: one("subscription_id"),
        include_management_groups: one("include_management_groups"),
        exclude_management_groups: one("exclude_management_groups"),
        exclude_subscriptions: one("exclude_subscriptions"),
        name: one("name"),
        new_groups: one("new_groups"),
        flow_logs: !one("flow_logs").is_empty(),
        identity: or(one("identity"), "builtin"),
        client_id: one("client_id"),
        service_principal_id: one("service_principal_id"),
        directory_readers: !one("directory_readers").is_empty(),
        review: !one("review").is_empty(),
        connection: or(one("connection"), "default"),
        register_anyway: !one("register_anyway").is_empty(),
        from_job: one("from_job"),
        kept: KEPT
            .iter()
            .filter_map(|name| {
                let value = one(name);
                (!value.is_empty()).then(|| KeptField {
                    name,
                    label: format!("{name} {value}"),
                    value,
                })
            })
            .collect(),
    };
    let chosen_features = all("features");
    let chosen_groups = all("groups");
    let mut map = Map::new();
    let mut text = |key: &str, v: &str| {
        if !v.is_empty() {
            map.insert(key.into(), Value::String(v.to_owned()));
        }
    };
    text("scope", &values.scope);
    text("tenant_id", &values.tenant_id);
    text("name", &values.name);
    text("identity", &values.identity);
    text("connection", &values.connection);
    match values.scope.as_str() {
        "subscription" => text("subscription_id", &values.subscription_id),
        "tenant" => {
            for (key, v) in [
                (
                    "include_management_groups",
                    &values.include_management_groups,
                ),
                (
                    "exclude_management_groups",
                    &values.exclude_management_groups,
                ),
                ("exclude_subscriptions", &values.exclude_subscriptions),
            ] {
                map.insert(key.into(), Value::Array(list(v)));
            }
        }
        _ => {}
    }
    if values.identity == "existing" {
        for key in ["client_id", "service_principal_id"] {
            let v = one(key);
            if !v.is_empty() {
                map.insert(key.into(), Value::String(v));
            }
        }
        let secret = form.raw("client_secret");
        if !secret.is_empty() {
            map.insert("client_secret".into(), Value::String(secret));
        }
    } else {
        map.insert("require_approval".into(), Value::Bool(values.review));
    }
    if values.identity == "builtin" {
        map.insert(
            "directory_readers".into(),
            Value::Bool(values.directory_readers),
        );
    }
    let mut groups: Vec<Value> = chosen_groups.iter().cloned().map(Value::String).collect();
    let typed = list(&values.new_groups);
    if !typed.is_empty() {
        map.insert("create_missing_groups".into(), Value::Bool(true));
    }
    groups.extend(typed);
    map.insert("groups".into(), Value::Array(groups));
    map.insert(
        "features".into(),
        Value::Array(chosen_features.iter().cloned().map(Value::String).collect()),
    );
    map.insert("flow_logs".into(), Value::Bool(values.flow_logs));
    map.insert(
        "register_anyway".into(),
        Value::Bool(values.register_anyway),
    );
    for k in &values.kept {
        let value = match k.name {
            "enabled" => Value::Bool(k.value == "true"),
            "audit_log_export" if values.identity == "builtin" => Value::Bool(true),
            "secret_rotation_days" if values.identity == "builtin" => k
                .value
                .parse::<u32>()
                .map_or_else(|_| Value::String(k.value.clone()), Value::from),
            "include_subscriptions" if values.scope == "tenant" => Value::Array(list(&k.value)),
            "environment" => Value::String(k.value.clone()),
            // A setting of another identity or scope than the one now chosen.
            _ => continue,
        };
        map.insert(k.name.into(), value);
    }
    Submitted {
        request: Value::Object(map),
        values,
        features: chosen_features,
        groups: chosen_groups,
    }
}

pub async fn onboard_submit(
    State(state): State<AppState>,
    caller: FormCaller,
    body: String,
) -> Response {
    let form = FormFields::parse(&body);
    if form.get("platform") == "cortex" {
        return super::onboard_cortex::submit(&state, caller, &form).await;
    }
    let Submitted {
        request,
        values,
        features,
        groups,
    } = request_of(&form);
    let this = FormPage {
        path: "/onboard",
        secret: (values.identity == "existing").then_some("client secret"),
    };
    let who = match caller.permit(PageAction::Onboard, &this) {
        Ok(who) => who,
        Err(Refused::SignIn(to)) => return to.into_response(),
        Err(Refused::Page {
            who,
            status,
            problem,
        }) => {
            let nav = Nav::of(&who);
            return render(
                &state,
                nav,
                status,
                values,
                &features,
                &groups,
                vec![problem],
            )
            .await;
        }
    };
    let (status, problems) = match crate::routes::jobs::parse_row(request, "") {
        Ok((request, secret)) => {
            // Edit and retry of an existing identity: the old job's secret, kept server-side.
            let secret = match (secret, values.from_job.parse::<JobId>()) {
                (None, Ok(from)) => state
                    .engine()
                    .reusable_secret(from, &request)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "the edited job's secret was not read");
                        None
                    }),
                (secret, _) => secret,
            };
            match state.engine().submit(&request, secret, &who.actor()).await {
                Ok(id) => return Redirect::to(&format!("/jobs/{id}")).into_response(),
                Err(e) => {
                    let e = ApiError::from(e);
                    (e.status, super::problems_of(&e, "request"))
                }
            }
        }
        Err(errors) => (
            StatusCode::BAD_REQUEST,
            errors
                .into_iter()
                .map(|e| Problem {
                    field: e.field,
                    message: e.message,
                })
                .collect(),
        ),
    };
    render(
        &state,
        Nav::of(&who),
        status,
        values,
        &features,
        &groups,
        problems,
    )
    .await
}
