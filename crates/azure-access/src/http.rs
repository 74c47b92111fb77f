//! GETs against ARM and Graph with a bearer token, and their error bodies in words.

use std::time::Duration;

use prisma_types::SecretString;
use serde_json::Value;

/// An HTTP client without redirects (a bearer must not follow one) and with timeouts.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Why a call did not answer 200: the status and ARM's/Graph's `error.code: message`.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{status}: {code}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

pub(crate) async fn get_json(
    http: &reqwest::Client,
    url: &str,
    token: &SecretString,
) -> Result<Value, ApiError> {
    let response = http
        .get(url)
        .bearer_auth(token.expose())
        .send()
        .await
        .map_err(|e| ApiError {
            status: 0,
            code: "unreachable".into(),
            message: format!("{}", e.without_url()),
        })?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status == 200 {
        return Ok(body);
    }
    Err(ApiError {
        status,
        code: body["error"]["code"].as_str().unwrap_or("error").to_owned(),
        message: body["error"]["message"]
            .as_str()
            .unwrap_or("no message")
            .to_owned(),
    })
}
