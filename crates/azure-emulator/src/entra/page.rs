//! The emulator's HTML: the sign-in page (pick a seeded user or type one; there is no
//! password — the product under test never sees one either) and the error and signed-out pages.

use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::DirectoryUser;

/// HTML-escapes text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}}\
         button{{display:block;width:100%;margin:.4rem 0;padding:.6rem;font-size:1rem;text-align:left}}\
         input{{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}}\
         .error{{border-left:4px solid #a4262c;padding:.5rem 1rem;background:#fde7e9}}\
         .hint{{color:#444;font-size:.9rem}}</style></head>\
         <body><main>{body}</main></body></html>\n",
        title = escape(title)
    )
}

/// The sign-in page: `hidden` are the authorize request's parameters, carried in each form.
pub fn sign_in(
    app: &str,
    tenant: &str,
    users: &[DirectoryUser],
    hidden: &[(&str, &str)],
    error: Option<&str>,
) -> Response {
    let mut fields = String::new();
    for (name, value) in hidden {
        let _ = write!(
            fields,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        );
    }
    let mut body = format!(
        "<p class=\"hint\">Microsoft Entra ID (emulated) · tenant {}</p>\
         <h1>Sign in</h1><p>to continue to <strong>{}</strong></p>",
        escape(tenant),
        escape(app)
    );
    if let Some(error) = error {
        let _ = write!(
            body,
            "<p class=\"error\" role=\"alert\">{}</p>",
            escape(error)
        );
    }
    let _ = write!(
        body,
        "<form method=\"post\">{fields}<label for=\"user\">Email or user name</label>\
         <input id=\"user\" name=\"user\" type=\"text\" autocomplete=\"username\">\
         <button type=\"submit\">Next</button></form>\
         <h2>Or pick an account</h2><form method=\"post\">{fields}"
    );
    for u in users {
        let _ = write!(
            body,
            "<button type=\"submit\" name=\"user\" value=\"{upn}\">{name} ({upn})</button>",
            upn = escape(&u.user_principal_name),
            name = escape(&u.display_name)
        );
    }
    let _ = write!(
        body,
        "</form><form method=\"post\">{fields}\
         <button type=\"submit\" name=\"cancel\" value=\"1\">Cancel</button></form>"
    );
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, Html(document("Sign in to your account", &body))).into_response()
}

/// An error Entra shows itself instead of redirecting (the redirect URI cannot be trusted).
pub fn error(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<p class=\"hint\">Microsoft Entra ID (emulated)</p><h1>Sorry, but we’re having trouble \
         signing you in.</h1><p class=\"error\" role=\"alert\">{}</p>",
        escape(message)
    );
    (status, Html(document("Sign in to your account", &body))).into_response()
}

pub fn signed_out() -> Response {
    let body = "<p class=\"hint\">Microsoft Entra ID (emulated)</p>\
                <h1>You signed out of your account</h1>\
                <p>It’s a good idea to close all browser windows.</p>";
    Html(document("Sign out", body)).into_response()
}
