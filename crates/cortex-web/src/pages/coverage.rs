//! The Coverage page: the Azure tenant's management-group tree and subscriptions, each with
//! its state on the chosen platform connection (own account, covered by a tenant or
//! management-group account, onboarded but disabled or failing, not onboarded) and Azure's own
//! state (a disabled subscription, no access), with counts at each level; the connection and
//! the filters (not covered only, by management group, search) in the query string so a view
//! can be bookmarked. The connection is the engine's own Prisma Cloud one by default, or any
//! saved Prisma Cloud or Cortex Cloud connection (`?connection=`; for Cortex Cloud the
//! accounts are its integration instances, `onboarding_engine::coverage`).
//!
//! Onboarding a selection: tick subscriptions, or press *Review all shown not covered*, or
//! pick a management group; `POST /coverage/review` lists what will be created (one Prisma
//! Cloud account per subscription, one app registration per tenant by default) and its form
//! starts them as one batch through the bulk page's path (`POST /bulk`, the same checks and
//! batch engine). Where one tenant account covers better (every subscription, and new ones as
//! they appear), the review says so and links the wizard with the tenant filled in.
//! For a Cortex Cloud connection there are no batches: one integration instance covers a
//! selection (tenant scope with an include list of the selected subscriptions) or a management
//! group (management-group scope), so the review explains that and hands the choice to the
//! Cortex wizard, filled in, for its own review and plan approval.
//!
//! Everything comes from `routes::coverage::read` (the API's and `discover`'s code); Azure's
//! refusals show as a sentence with the fix in place of the tree.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use azure_access::coverage::{AccountScope, Counts, Coverage};
use onboarding_engine::coverage::{CoverageView, SubscriptionRow};

use super::onboard::Problem;
use super::{FormCaller, FormPage, Nav, PageAction, PageUser, no_store};
use crate::error::ApiError;
use crate::extract::FormFields;
use crate::state::AppState;

/// A management group as a row of the tree.
pub struct GroupRow {
    pub id: String,
    pub name: String,
    /// Indentation, 0 for the tenant root group.
    pub depth: usize,
    pub counts: Counts,
    /// Its subscriptions that pass the filters (directly in it, not below).
    pub subscriptions: Vec<SubRow>,
    /// The filters leave it (and everything below) out.
    pub shown: bool,
}

/// A subscription as the page shows it.
pub struct SubRow {
    pub id: String,
    pub name: String,
    /// Azure's state: Enabled, Warned, PastDue, Disabled, Unknown.
    pub azure_state: String,
    /// Badge class and words of the platform side.
    pub badge: &'static str,
    pub icon: &'static str,
    pub coverage: String,
    pub not_covered: bool,
    /// Onboarding it makes sense (not covered and Azure lets it be read).
    pub selectable: bool,
}

/// A connection the page can join with.
pub struct ConnectionChoice {
    pub name: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "coverage.html")]
pub struct CoveragePage {
    pub nav: Nav,
    /// The connection joined (empty: the engine's own) and the choices.
    pub connection: String,
    pub connections: Vec<ConnectionChoice>,
    /// "Prisma Cloud" or "Cortex Cloud"; what its accounts are called.
    pub platform: &'static str,
    pub accounts_word: &'static str,
    /// Azure's refusal, as a sentence with the fix.
    pub error: Option<String>,
    pub tenant_id: String,
    pub principal: String,
    pub totals: Counts,
    pub groups: Vec<GroupRow>,
    /// `(id, indented name)` for the group filter.
    pub group_options: Vec<(String, String)>,
    pub filter_not_covered: bool,
    pub filter_group: String,
    pub q: String,
    /// Subscriptions shown / selectable among them.
    pub shown: usize,
    pub shown_selectable: Vec<String>,
    pub problems: Vec<Problem>,
}

fn sub_row(s: &SubscriptionRow) -> SubRow {
    let c = &s.coverage;
    let sub = &c.subscription;
    let no_access = sub.state == "Unknown";
    let (badge, icon, words) = match &c.coverage {
        Coverage::OwnAccount => (
            "ok",
            "ok",
            match &s.account_name {
                Some(n) => format!("own account {n}"),
                None => "own account".into(),
            },
        ),
        Coverage::Covered { by, scope } => (
            "ok",
            "ok",
            match scope {
                AccountScope::Tenant => format!("covered by tenant account {by}"),
                _ => format!("covered by management group account {by}"),
            },
        ),
        Coverage::NotWorking { why } => ("warn", "warn", format!("onboarded but {why}")),
        Coverage::NotOnboarded if no_access => (
            "muted",
            "stopped",
            "not onboarded; no access to read it".into(),
        ),
        Coverage::NotOnboarded => ("bad", "bad", "not onboarded".into()),
    };
    let not_covered = s.not_covered();
    SubRow {
        id: sub.id.clone(),
        name: sub.display_name.clone(),
        azure_state: sub.state.clone(),
        badge,
        icon,
        coverage: words,
        not_covered,
        selectable: not_covered && sub.state != "Disabled" && !no_access,
    }
}

/// The groups in `view` below (and including) `group`.
fn subtree(view: &CoverageView, group: &str) -> Vec<String> {
    let mut out = vec![group.to_owned()];
    let mut i = 0;
    while i < out.len() {
        let id = out[i].clone();
        out.extend(
            view.groups
                .iter()
                .filter(|g| {
                    g.group
                        .parent
                        .as_deref()
                        .is_some_and(|p| p.eq_ignore_ascii_case(&id))
                })
                .map(|g| g.group.id.clone()),
        );
        i += 1;
    }
    out
}

struct Filters {
    connection: String,
    not_covered: bool,
    group: String,
    q: String,
}

impl Filters {
    fn of(form: &FormFields) -> Self {
        Self {
            connection: form.get("connection").chars().take(64).collect(),
            not_covered: !form.get("not_covered").is_empty(),
            group: form.get("group"),
            q: form.get("q").chars().take(200).collect(),
        }
    }
}

fn page_of(nav: Nav, view: &CoverageView, f: &Filters) -> CoveragePage {
    let in_group: Option<Vec<String>> = (!f.group.is_empty()).then(|| subtree(view, &f.group));
    let needle = f.q.to_lowercase();
    let passes = |s: &SubscriptionRow| {
        let sub = &s.coverage.subscription;
        (!f.not_covered || s.not_covered())
            && in_group.as_ref().is_none_or(|groups| {
                groups
                    .iter()
                    .any(|g| g.eq_ignore_ascii_case(&sub.management_group))
            })
            && (needle.is_empty()
                || sub.display_name.to_lowercase().contains(&needle)
                || sub.id.to_lowercase().contains(&needle))
    };
    let mut shown = 0;
    let mut shown_selectable = Vec::new();
    let groups: Vec<GroupRow> = view
        .groups
        .iter()
        .map(|g| {
            let subscriptions: Vec<SubRow> = view
                .subscriptions
                .iter()
                .filter(|s| {
                    s.coverage
                        .subscription
                        .management_group
                        .eq_ignore_ascii_case(&g.group.id)
                        && passes(s)
                })
                .map(sub_row)
                .collect();
            shown += subscriptions.len();
            shown_selectable.extend(
                subscriptions
                    .iter()
                    .filter(|s| s.selectable)
                    .map(|s| s.id.clone()),
            );
            GroupRow {
                id: g.group.id.clone(),
                name: g.group.display_name.clone(),
                depth: g.depth,
                counts: g.counts.clone(),
                shown: in_group
                    .as_ref()
                    .is_none_or(|ids| ids.iter().any(|i| i.eq_ignore_ascii_case(&g.group.id))),
                subscriptions,
            }
        })
        .collect();
    let group_options = view
        .groups
        .iter()
        .map(|g| {
            (
                g.group.id.clone(),
                format!("{}{}", "· ".repeat(g.depth), g.group.display_name),
            )
        })
        .collect();
    let cortex = view.platform == "cortex";
    CoveragePage {
        nav,
        connection: f.connection.clone(),
        connections: Vec::new(),
        platform: if cortex {
            "Cortex Cloud"
        } else {
            "Prisma Cloud"
        },
        accounts_word: if cortex {
            "integration instances"
        } else {
            "accounts"
        },
        error: None,
        tenant_id: view.tenant_id.clone(),
        principal: view.principal.clone(),
        totals: view.totals.clone(),
        groups,
        group_options,
        filter_not_covered: f.not_covered,
        filter_group: f.group.clone(),
        q: f.q.clone(),
        shown,
        shown_selectable,
        problems: Vec::new(),
    }
}

fn error_page(nav: Nav, e: &ApiError, f: &Filters) -> CoveragePage {
    CoveragePage {
        nav,
        connection: f.connection.clone(),
        connections: Vec::new(),
        platform: "the platform",
        accounts_word: "accounts",
        error: Some(e.body.message.clone()),
        tenant_id: String::new(),
        principal: String::new(),
        totals: Counts::default(),
        groups: Vec::new(),
        group_options: Vec::new(),
        filter_not_covered: f.not_covered,
        filter_group: f.group.clone(),
        q: f.q.clone(),
        shown: 0,
        shown_selectable: Vec::new(),
        problems: Vec::new(),
    }
}

/// `GET /coverage`.
pub async fn coverage_page(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    RawQuery(query): RawQuery,
) -> Response {
    let form = FormFields::parse(query.as_deref().unwrap_or(""));
    let filters = Filters::of(&form);
    let nav = Nav::of(&p);
    let mut page = match read(&state, &filters).await {
        Ok(view) => page_of(nav, &view, &filters),
        // Azure's refusal is the page's content, not a failure of the page.
        Err(e) => error_page(nav, &e, &filters),
    };
    page.connections = connection_choices(&state, &filters.connection).await;
    no_store(page.into_response())
}

async fn read(state: &AppState, f: &Filters) -> Result<CoverageView, ApiError> {
    crate::routes::coverage::read(state, None, Some(&f.connection)).await
}

/// The engine's own connection first, then every readable saved one (either platform).
async fn connection_choices(state: &AppState, chosen: &str) -> Vec<ConnectionChoice> {
    let chosen = if chosen.is_empty() {
        onboarding_engine::connections::DEFAULT_CONNECTION
    } else {
        chosen
    };
    let views = state.engine().list_connections().await.unwrap_or_default();
    views
        .into_iter()
        .filter(|c| c.problem.is_none())
        .map(|c| ConnectionChoice {
            label: format!(
                "{} ({})",
                c.name,
                match c.platform {
                    onboarding_engine::connections::Platform::Cortex => "Cortex Cloud",
                    _ => "Prisma Cloud",
                }
            ),
            selected: c.name == chosen,
            name: c.name,
        })
        .collect()
}

/// A subscription to onboard, as the review lists it.
pub struct Selected {
    pub id: String,
    pub name: String,
    pub group: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "coverage_review.html")]
pub struct ReviewPage {
    pub nav: Nav,
    pub tenant_id: String,
    /// The Cortex Cloud connection when the view is of one (no batch then: the Cortex wizard,
    /// filled in from [`Self::cortex_wizard`]).
    pub cortex: Option<CortexChoice>,
    pub selected: Vec<Selected>,
    /// `subscription_id,name` rows for the bulk path.
    pub csv: String,
    /// Not covered subscriptions of the tenant in all (to say when a tenant account fits).
    pub not_covered_total: usize,
    pub total: usize,
}

/// `POST /coverage/review`: the selection (ticked subscriptions, everything shown, or a
/// management group's not covered subscriptions) checked against the tenant and listed with
/// what will be created. Nothing starts here.
pub async fn review(State(state): State<AppState>, caller: FormCaller, body: String) -> Response {
    let form = FormFields::parse(&body);
    let filters = Filters::of(&form);
    let this = FormPage {
        path: "/coverage",
        secret: None,
    };
    let (who, refused) = match caller.permit_on_page(PageAction::Onboard, &this) {
        Ok(permit) => permit,
        Err(to) => return to.into_response(),
    };
    let view = match read(&state, &filters).await {
        Ok(v) => v,
        Err(e) => {
            return no_store((e.status, error_page(Nav::of(&who), &e, &filters)).into_response());
        }
    };
    let mut back = page_of(Nav::of(&who), &view, &filters);
    if let Some((status, problem)) = refused {
        back.problems.push(problem);
        return no_store((status, back).into_response());
    }
    let wanted: Vec<String> = match form.get("action").as_str() {
        "group" => {
            let group = form.get("onboard_group");
            if !view
                .groups
                .iter()
                .any(|g| g.group.id.eq_ignore_ascii_case(&group))
            {
                back.problems.push(Problem {
                    field: "onboard_group".into(),
                    message: format!(
                        "`{group}` is not a management group of tenant {} the Azure credentials can read",
                        view.tenant_id
                    ),
                });
                return no_store((StatusCode::BAD_REQUEST, back).into_response());
            }
            let under = subtree(&view, &group);
            view.subscriptions
                .iter()
                .filter(|s| {
                    under
                        .iter()
                        .any(|g| g.eq_ignore_ascii_case(&s.coverage.subscription.management_group))
                })
                .map(|s| s.coverage.subscription.id.clone())
                .collect()
        }
        "shown" => back.shown_selectable.clone(),
        _ => form.all("subscription"),
    };
    let mut selected = Vec::new();
    for id in &wanted {
        let Some(s) = view
            .subscriptions
            .iter()
            .find(|s| s.coverage.subscription.id.eq_ignore_ascii_case(id.trim()))
        else {
            back.problems.push(Problem {
                field: "subscription".into(),
                message: format!(
                    "`{id}` is not a subscription of tenant {} the Azure credentials can see",
                    view.tenant_id
                ),
            });
            continue;
        };
        let row = sub_row(s);
        if !row.selectable {
            // A group's covered or disabled subscriptions are simply not part of it.
            if form.get("action") == "group" {
                continue;
            }
            back.problems.push(Problem {
                field: "subscription".into(),
                message: format!(
                    "{} ({}) is {}; nothing to onboard",
                    row.name,
                    row.id,
                    if row.not_covered {
                        "disabled in Azure or cannot be read"
                    } else {
                        row.coverage.as_str()
                    }
                ),
            });
            continue;
        }
        selected.push(Selected {
            id: row.id,
            name: row.name,
            group: s.coverage.subscription.management_group.clone(),
        });
    }
    if selected.is_empty() && back.problems.is_empty() {
        back.problems.push(Problem {
            field: "subscription".into(),
            message: "nothing is selected: tick the subscriptions to onboard, or choose a management group".into(),
        });
    }
    if !back.problems.is_empty() {
        return no_store((StatusCode::BAD_REQUEST, back).into_response());
    }
    let cortex = view
        .connection
        .as_deref()
        .filter(|_| view.platform == "cortex")
        .map(|c| {
            let group = (form.get("action") == "group").then(|| form.get("onboard_group"));
            CortexChoice::of(c, &view.tenant_id, group, &selected)
        });
    let mut csv = String::from("subscription_id,name\n");
    for s in &selected {
        csv.push_str(&format!(
            "{},{}\n",
            s.id,
            s.name.replace([',', '"', '\n'], " ")
        ));
    }
    no_store(
        ReviewPage {
            nav: Nav::of(&who),
            tenant_id: view.tenant_id.clone(),
            cortex,
            csv,
            not_covered_total: view
                .subscriptions
                .iter()
                .filter(|s| s.not_covered())
                .count(),
            total: view.subscriptions.len(),
            selected,
        }
        .into_response(),
    )
}

/// How a selection is onboarded into Cortex Cloud: one integration instance, in the Cortex
/// wizard filled in with these values (its review and plan approval follow as usual).
pub struct CortexChoice {
    pub connection: String,
    /// The management group chosen (its instance covers everything below it).
    pub group: Option<String>,
    /// `/onboard?…` for the selection (tenant scope, include list) or the group.
    pub wizard: String,
    /// `/onboard?…` for the whole tenant.
    pub tenant_wizard: String,
}

impl CortexChoice {
    fn of(connection: &str, tenant: &str, group: Option<String>, selected: &[Selected]) -> Self {
        let link = |pairs: &[(&str, &str)]| {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.append_pair("connection", connection)
                .append_pair("tenant_id", tenant);
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
            format!("/onboard?{}", q.finish())
        };
        // The hosting subscription (where the template's resource group goes): the first one
        // selected; the wizard lets it be changed.
        let hosting = selected.first().map(|s| s.id.as_str()).unwrap_or_default();
        let ids: Vec<&str> = selected.iter().map(|s| s.id.as_str()).collect();
        let wizard = match &group {
            Some(g) => link(&[
                ("scope", "management_group"),
                ("management_group_id", g),
                ("subscription_id", hosting),
            ]),
            None => link(&[
                ("scope", "tenant"),
                ("subscription_id", hosting),
                ("subscriptions_mode", "include"),
                ("subscriptions", &ids.join(",")),
            ]),
        };
        CortexChoice {
            connection: connection.to_owned(),
            group,
            tenant_wizard: link(&[("scope", "tenant"), ("subscription_id", hosting)]),
            wizard,
        }
    }
}
