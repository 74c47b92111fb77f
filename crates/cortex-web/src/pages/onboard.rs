//! The onboarding wizard: one page in numbered sections — scope, Prisma Cloud connection,
//! Azure identity, features (each saying what it needs in Azure), account groups, flow logs,
//! review — submitted as one request. With "review the plan" on (the default when Terraform
//! creates the identity), the job stops after `terraform plan` and its page is the review:
//! the plan's counts and resources, and an approve button before anything is applied.
//!
//! The form becomes the same JSON object the API takes, validated by the same code
//! (`routes::jobs::parse_row`), so a bad field is named exactly as the API names it.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use prisma_types::Feature;
use serde_json::{Map, Value};

use super::{FormCaller, FormPage, Nav, PageAction, PageUser, Refused, no_store};
use crate::error::ApiError;
use crate::extract::FormFields;
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
}

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
    pub problems: Vec<Problem>,
}

/// A choice of the wizard's connection list.
pub struct ConnectionOption {
    pub name: String,
    pub label: String,
    pub selected: bool,
}

/// The connections to offer (just `default` if the saved ones cannot be listed).
pub(super) async fn connection_options(state: &AppState, chosen: &str) -> Vec<ConnectionOption> {
    let views = state.engine().list_connections().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "connections not listed for the onboarding form");
        Vec::new()
    });
    let mut options: Vec<ConnectionOption> = views
        .into_iter()
        .filter(|c| c.problem.is_none())
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
    let connections = connection_options(state, &values.connection).await;
    let page = OnboardPage {
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

pub async fn onboard_page(State(state): State<AppState>, PageUser(p): PageUser) -> Response {
    render(
        &state,
        Nav::of(&p),
        StatusCode::OK,
        OnboardValues::default(),
        &[],
        &[],
        Vec::new(),
    )
    .await
}

/// A list typed one per line or comma-separated.
fn list(text: &str) -> Vec<Value> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
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
