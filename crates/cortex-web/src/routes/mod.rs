//! The routes: one table ([`api`]) that both builds the router and lists what it serves, so a
//! test can compare the list with the OpenAPI document.
//!
//! | method | path | role | what |
//! | --- | --- | --- | --- |
//! | GET | `/healthz` | — | the process is up |
//! | GET | `/readyz` | — | the job store and the users database answer |
//! | GET | `/metrics` | viewer | Prometheus text |
//! | GET | `/api/v1/openapi.json` | — | this API's OpenAPI 3.1 document |
//! | POST | `/api/v1/auth/login` | — | sign in (cookie + CSRF token) |
//! | POST | `/api/v1/auth/logout` | session | sign out |
//! | GET | `/api/v1/auth/session` | viewer | who am I, CSRF token |
//! | GET, POST | `/api/v1/tokens` | viewer; session to create | API tokens |
//! | DELETE | `/api/v1/tokens/{id}` | viewer | revoke one of mine |
//! | GET, POST | `/api/v1/jobs` | viewer; operator to submit | jobs |
//! | GET | `/api/v1/jobs/{id}` | viewer | a job and its steps |
//! | GET | `/api/v1/jobs/{id}/events` | viewer | SSE |
//! | POST | `/api/v1/jobs/{id}/cancel`, `/resume`, `/approve` | operator | job actions |
//! | POST | `/api/v1/cortex/onboardings` | operator | submit a Cortex Cloud onboarding (a job) |
//! | POST | `/api/v1/batches` | operator | submit a batch |
//! | GET | `/api/v1/batches/{id}` | viewer | summary and report |
//! | GET | `/api/v1/batches/{id}/events` | viewer | SSE |
//! | GET | `/api/v1/batches/{id}/report.csv` | viewer | the results as CSV |
//! | POST | `/api/v1/batches/{id}/retry` | operator | re-queue its failed and cancelled jobs |
//! | GET | `/api/v1/accounts` | viewer | Prisma's accounts |
//! | GET, DELETE | `/api/v1/accounts/{id}` | viewer; operator to offboard | one account |
//! | POST | `/api/v1/accounts/{id}/enable`, `/disable` | operator | |
//! | POST | `/api/v1/accounts/{id}/rotate-secret` | operator | a `rotate_secret` job |
//! | POST | `/api/v1/accounts/{id}/offboard` | operator | an `offboard` job (destroy with review) |
//! | GET, POST | `/api/v1/groups` | viewer; operator to create | account groups |
//! | GET | `/api/v1/audit` | viewer | the audit log |
//! | GET, POST | `/api/v1/connections` | viewer; admin to save | platform connections (Prisma Cloud, Cortex Cloud) |
//! | DELETE | `/api/v1/connections/{name}` | admin | delete a saved connection |
//! | POST | `/api/v1/connections/{name}/test` | operator | log in with its key |
//! | GET | `/api/v1/health` | viewer | every watched account's current health |
//! | GET | `/api/v1/accounts/{id}/health` | viewer | one account's health history |
//! | GET, POST | `/api/v1/notifications/sinks` | viewer; admin to save | notification sinks (masked) |
//! | DELETE | `/api/v1/notifications/sinks/{name}` | admin | delete a sink |
//! | POST | `/api/v1/notifications/sinks/{name}/test` | admin | send it a test notification |
//! | GET | `/api/v1/notifications/dead-letters` | viewer | notifications no sink took |
//! | GET | `/api/v1/drift` | viewer | managed accounts: desired state, last drift finding, lifecycle |
//! | GET | `/api/v1/accounts/{id}/drift` | viewer | compare one account with the platform now |
//! | POST | `/api/v1/accounts/{id}/reconcile` | operator | reconcile job (optional review) or adopt current |
//! | GET, POST | `/api/v1/adoption` | viewer; operator to adopt | unmanaged platform accounts; adopt them |
//! | POST | `/api/v1/notifications/dead-letters/{notification}/{sink}/retry` | operator | re-queue one (delivered again at once) |
//! | DELETE | `/api/v1/notifications/dead-letters/{notification}/{sink}` | operator | discard one |

pub mod accounts;
pub mod connections;
pub mod cortex;
pub mod coverage;
pub mod drift;
pub mod health;
pub mod jobs;
pub mod lifecycle;
pub mod ops;
pub mod session;

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, on};

use crate::state::AppState;

/// A router that remembers what it was given.
pub struct RouteTable {
    router: Router<AppState>,
    routes: Vec<(Method, &'static str)>,
}

impl RouteTable {
    fn new() -> Self {
        Self {
            router: Router::new(),
            routes: Vec::new(),
        }
    }

    fn add<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a routable method");
        self.router = self.router.route(path, on(filter, handler));
        self.routes.push((method, path));
        self
    }

    fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::GET, path, h)
    }

    fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::POST, path, h)
    }

    fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::DELETE, path, h)
    }

    /// `(METHOD, path)` of every route, in registration order.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.routes
            .iter()
            .map(|(m, p)| (m.to_string(), (*p).to_owned()))
            .collect()
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}

/// Every route the server has.
pub fn api() -> RouteTable {
    RouteTable::new()
        .get("/healthz", ops::healthz)
        .get("/readyz", ops::readyz)
        .get("/metrics", ops::metrics)
        .get("/api/v1/openapi.json", ops::openapi)
        .post("/api/v1/auth/login", session::login)
        .post("/api/v1/auth/logout", session::logout)
        .get("/api/v1/auth/session", session::current)
        .get("/api/v1/tokens", session::list_tokens)
        .post("/api/v1/tokens", session::create_token)
        .delete("/api/v1/tokens/{id}", session::delete_token)
        .get("/api/v1/jobs", jobs::list)
        .post("/api/v1/jobs", jobs::submit)
        .get("/api/v1/jobs/{id}", jobs::get)
        .get("/api/v1/jobs/{id}/events", jobs::events)
        .post("/api/v1/jobs/{id}/cancel", jobs::cancel)
        .post("/api/v1/jobs/{id}/resume", jobs::resume)
        .post("/api/v1/jobs/{id}/approve", jobs::approve)
        .post("/api/v1/cortex/onboardings", cortex::submit)
        .post("/api/v1/batches", jobs::submit_batch)
        .get("/api/v1/batches/{id}", jobs::get_batch)
        .get("/api/v1/batches/{id}/events", jobs::batch_events)
        .get("/api/v1/batches/{id}/report.csv", jobs::batch_report_csv)
        .post("/api/v1/batches/{id}/retry", jobs::retry_batch)
        .get("/api/v1/accounts", accounts::list)
        .get("/api/v1/accounts/{id}", accounts::get)
        .delete("/api/v1/accounts/{id}", accounts::offboard)
        .post("/api/v1/accounts/{id}/enable", accounts::enable)
        .post("/api/v1/accounts/{id}/disable", accounts::disable)
        .post(
            "/api/v1/accounts/{id}/rotate-secret",
            lifecycle::rotate_secret,
        )
        .post("/api/v1/accounts/{id}/offboard", lifecycle::offboard)
        .get("/api/v1/groups", accounts::list_groups)
        .post("/api/v1/groups", accounts::create_group)
        .get("/api/v1/audit", accounts::list_audit)
        .get("/api/v1/connections", connections::list)
        .post("/api/v1/connections", connections::save)
        .delete("/api/v1/connections/{name}", connections::delete)
        .post("/api/v1/connections/{name}/test", connections::test)
        .get("/api/v1/health", health::list)
        .get("/api/v1/accounts/{id}/health", health::history)
        .get("/api/v1/notifications/sinks", health::list_sinks)
        .post("/api/v1/notifications/sinks", health::save_sink)
        .delete("/api/v1/notifications/sinks/{name}", health::delete_sink)
        .post("/api/v1/notifications/sinks/{name}/test", health::test_sink)
        .get("/api/v1/notifications/dead-letters", health::dead_letters)
        .get("/api/v1/drift", drift::list)
        .get("/api/v1/accounts/{id}/drift", drift::check)
        .post("/api/v1/accounts/{id}/reconcile", drift::reconcile)
        .get("/api/v1/adoption", drift::adoptable)
        .post("/api/v1/adoption", drift::adopt)
        .get("/api/v1/coverage", coverage::get)
        .post(
            "/api/v1/notifications/dead-letters/{notification}/{sink}/retry",
            health::retry,
        )
        .delete(
            "/api/v1/notifications/dead-letters/{notification}/{sink}",
            health::discard,
        )
}
