//! Where a job came from: the request id of the HTTP request (or other caller) that submitted
//! it, carried into every event of the job.
//!
//! The web server runs each request inside [`RequestId::scope`]; a job submitted during it
//! records the id in its stored request (`"origin": {"request_id": …}`, beside the request's
//! own fields, which ignore it), and whichever worker runs the job — in this process or
//! another — adds `"origin_request_id"` to each of the job's events (steps, Terraform, and the
//! platform call events: `api_call`, `api_retry`, …), so one id joins the access log line of
//! the submission, the job's history and its Prisma Cloud calls. (Not `request_id`: an
//! `api_call` event's `request_id` is the platform's id of that call.)

use std::fmt;

tokio::task_local! {
    static CURRENT: RequestId;
}

/// The most characters a request id may have.
pub const MAX_LEN: usize = 64;

/// A request id: 1 to [`MAX_LEN`] characters from `A–Z a–z 0–9 - _ . : = + / @` (what
/// load balancers and tracing headers use), so it is safe in a log line, a header and JSON.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// The id if `value` is a valid one (else `None`: the caller makes a new one).
    pub fn parse(value: &str) -> Option<RequestId> {
        let ok = (1..=MAX_LEN).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:=+/@".contains(&b));
        ok.then(|| RequestId(value.to_owned()))
    }

    /// A new random id (a UUID).
    pub fn generate() -> RequestId {
        RequestId(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Runs `fut` with this id as the origin of the jobs it submits.
    pub async fn scope<F: std::future::Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }

    /// The id of the request this task serves, if any.
    pub fn current() -> Option<RequestId> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// The id recorded in a stored job request (see the module docs).
    pub fn of_stored_request(request: &serde_json::Value) -> Option<RequestId> {
        request["origin"]["request_id"]
            .as_str()
            .and_then(RequestId::parse)
    }

    /// Records this task's request id, if any, in a job request about to be stored.
    pub(crate) fn stamp(request: &mut serde_json::Value) {
        if let (Some(id), Some(object)) = (RequestId::current(), request.as_object_mut()) {
            object.insert(
                "origin".to_owned(),
                serde_json::json!({ "request_id": id.as_str() }),
            );
        }
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        for good in [
            "a",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "Root=1-6789+ab/c@d:e_f.",
        ] {
            assert_eq!(RequestId::parse(good).unwrap().as_str(), good);
        }
        let long = "x".repeat(MAX_LEN + 1);
        for bad in [
            "",
            "two words",
            "semi;colon",
            "new\nline",
            "é",
            "a\"b",
            long.as_str(),
        ] {
            assert_eq!(RequestId::parse(bad), None, "{bad:?}");
        }
        assert!(RequestId::parse(RequestId::generate().as_str()).is_some());
    }

    #[tokio::test]
    async fn a_scope_stamps_the_requests_it_submits() {
        let mut outside = serde_json::json!({"name": "n"});
        RequestId::stamp(&mut outside);
        assert_eq!(outside, serde_json::json!({"name": "n"}));
        let id = RequestId::parse("req-1").unwrap();
        let stamped = id
            .clone()
            .scope(async {
                let mut request = serde_json::json!({"name": "n"});
                RequestId::stamp(&mut request);
                request
            })
            .await;
        assert_eq!(stamped["origin"]["request_id"], "req-1");
        assert_eq!(RequestId::of_stored_request(&stamped), Some(id));
    }
}
