//! Parsing terraform's machine-readable output: the `-json` UI stream (one JSON object per
//! stdout line), `terraform output -json` and `terraform validate -json`.
//!
//! Why it is shaped this way (see `shared/reference/terraform-azure.md` §1):
//!
//! * The message type set is open and grows with every release, so the envelope (`@level`,
//!   `@message`, `@module`, `@timestamp`, `type`) is read first and the payload is matched on
//!   `type` by hand. An unrecognised type becomes [`MessageKind::Unknown`]; its `@message` is still
//!   in [`UiMessage::message`], which is what the docs say a UI should show.
//! * A minor `ui` version bump is additive (unknown keys are ignored everywhere here); a major
//!   bump breaks compatibility, so a `version` line whose `ui` major is not 1 is refused with
//!   [`StreamError::UnsupportedUi`] — the only error the runner treats as fatal.
//! * Fields that some versions or cases leave out are `Option`s (`id_key`, `id_value`, `reason`,
//!   `address`, `range`, `import`); `elapsed_seconds` is an `f64` (Go `float64`); `resource_key`
//!   is a [`serde_json::Value`] (`null`, a `count` number or a `for_each` string); `@timestamp` is
//!   kept as the string terraform wrote (fractional seconds come and go).
//! * Output **values** never survive stream parsing: [`MessageKind::Outputs`] keeps names only.
//!   Values are read with `terraform output -json` ([`parse_outputs`]) into [`OutputValue`], whose
//!   `Debug` hides sensitive values.
//! * Error texts never echo JSON string contents, which could be secrets: quoted spans in serde
//!   messages are replaced by `"…"`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One line of the UI stream: the envelope plus the typed payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UiMessage {
    /// `@level`: `info`, or `warn` / `error` for diagnostics.
    pub level: String,
    /// `@message`: the human-readable summary. Show this for any kind, including `Unknown`.
    pub message: String,
    /// `@module`: `terraform.ui` (OpenTofu writes `tofu.ui`).
    pub module: String,
    /// `@timestamp` as written (RFC 3339, fractional seconds optional).
    pub timestamp: String,
    pub kind: MessageKind,
}

/// The payload of a UI message, by `type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageKind {
    /// First line of every stream. `terraform` is the CLI version (`tofu` for OpenTofu).
    Version {
        terraform: Option<String>,
        ui: String,
    },
    PlannedChange {
        resource: ResourceAddr,
        action: String,
        reason: Option<String>,
    },
    ResourceDrift {
        resource: ResourceAddr,
        action: String,
    },
    ApplyStart {
        resource: ResourceAddr,
        action: String,
        id_key: Option<String>,
        id_value: Option<String>,
    },
    /// Heartbeat every 10 s while a resource is still being worked on.
    ApplyProgress {
        resource: ResourceAddr,
        action: String,
        elapsed_seconds: f64,
    },
    ApplyComplete {
        resource: ResourceAddr,
        action: String,
        id_key: Option<String>,
        id_value: Option<String>,
        elapsed_seconds: f64,
    },
    /// The error text follows later as a [`MessageKind::Diagnostic`] whose `address` is set.
    ApplyErrored {
        resource: ResourceAddr,
        action: String,
        elapsed_seconds: f64,
    },
    RefreshStart {
        resource: ResourceAddr,
    },
    RefreshComplete {
        resource: ResourceAddr,
    },
    ProvisionStart {
        resource: ResourceAddr,
        provisioner: String,
    },
    ProvisionProgress {
        resource: ResourceAddr,
        provisioner: String,
        output: String,
    },
    ProvisionComplete {
        resource: ResourceAddr,
        provisioner: String,
    },
    ProvisionErrored {
        resource: ResourceAddr,
        provisioner: String,
    },
    Diagnostic(Diagnostic),
    /// `operation` is `plan`, `apply` or `destroy`.
    ChangeSummary {
        add: u64,
        change: u64,
        import: u64,
        remove: u64,
        operation: String,
    },
    /// Output names only; values are never kept from the stream.
    Outputs {
        names: Vec<String>,
    },
    /// `terraform init -json` progress, e.g. `output_init_success_message`.
    InitOutput {
        message_code: String,
    },
    /// Free text; the text is in [`UiMessage::message`].
    Log,
    /// Any other type. Never fatal; show [`UiMessage::message`].
    Unknown {
        type_name: String,
    },
}

/// The `resource` object of hooks and changes. Correlate events by `addr`: messages for
/// different resources interleave when terraform works in parallel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceAddr {
    /// Full address, e.g. `module.m.azurerm_role_assignment.r["reader"]`.
    pub addr: String,
    /// `""` for the root module.
    #[serde(default)]
    pub module: String,
    #[serde(default)]
    pub resource_type: String,
    #[serde(default)]
    pub resource_name: String,
    /// `null`, a number (`count`) or a string (`for_each`); `None` when absent or `null`.
    #[serde(default)]
    pub resource_key: Option<Value>,
}

/// A diagnostic from the stream or from `validate -json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    /// `error` or `warning`.
    pub severity: String,
    pub summary: String,
    pub detail: String,
    /// The resource address, e.g. on the diagnostic that follows `apply_errored`.
    pub address: Option<String>,
    /// `"file:line:col"` of the range start.
    pub range: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == "error"
    }
}

/// What went wrong reading terraform's JSON. Texts never contain JSON string values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The line is not JSON at all (a stray text line on stdout, a truncated line, …).
    #[error("not a JSON line: {line_snippet:?}")]
    NotJson { line_snippet: String },
    /// JSON, but not a UI message envelope (not an object, or no string `type`).
    #[error("not a terraform UI message: {reason}")]
    BadEnvelope { reason: String },
    /// A known `type` whose payload lacks a required field or has a wrong shape.
    #[error("bad {type_name} payload: {reason}")]
    BadPayload { type_name: String, reason: String },
    /// A `version` line whose `ui` major version is not 1: the schema is incompatible.
    #[error("unsupported terraform UI schema version {ui:?} (only 1.x is understood)")]
    UnsupportedUi { ui: String },
    /// `terraform output -json` / `validate -json` output that does not have the documented shape.
    #[error("bad terraform {what} JSON: {reason}")]
    BadDocument { what: &'static str, reason: String },
}

impl StreamError {
    /// Fatal errors stop the run: the rest of the stream cannot be trusted.
    pub fn is_fatal(&self) -> bool {
        matches!(self, StreamError::UnsupportedUi { .. })
    }
}

const SNIPPET_CHARS: usize = 80;

/// Parses one line of the `-json` UI stream.
pub fn parse_line(line: &str) -> Result<UiMessage, StreamError> {
    let line = line.trim();
    let value: Value = serde_json::from_str(line).map_err(|_| StreamError::NotJson {
        line_snippet: snippet(line),
    })?;
    let Value::Object(mut obj) = value else {
        return Err(StreamError::BadEnvelope {
            reason: "not a JSON object".into(),
        });
    };
    let type_name = match obj.remove("type") {
        Some(Value::String(t)) => t,
        Some(_) => {
            return Err(StreamError::BadEnvelope {
                reason: "`type` is not a string".into(),
            });
        }
        None => {
            return Err(StreamError::BadEnvelope {
                reason: "no `type` key".into(),
            });
        }
    };
    let level = take_string(&mut obj, "@level");
    let message = take_string(&mut obj, "@message");
    let module = take_string(&mut obj, "@module");
    let timestamp = take_string(&mut obj, "@timestamp");
    let kind = parse_kind(type_name, obj)?;
    Ok(UiMessage {
        level,
        message,
        module,
        timestamp,
        kind,
    })
}

fn parse_kind(type_name: String, mut obj: Map<String, Value>) -> Result<MessageKind, StreamError> {
    let kind = match type_name.as_str() {
        "version" => {
            let ui = match obj.get("ui") {
                Some(Value::String(ui)) => ui.clone(),
                _ => return Err(bad(&type_name, "missing string field `ui`")),
            };
            let major = ui
                .split('.')
                .next()
                .and_then(|m| m.trim().parse::<u64>().ok());
            if major != Some(1) {
                return Err(StreamError::UnsupportedUi { ui });
            }
            let terraform = opt_string(&obj, "terraform").or_else(|| opt_string(&obj, "tofu"));
            MessageKind::Version { terraform, ui }
        }
        "planned_change" | "resource_drift" => {
            let c: ChangePayload = payload(&mut obj, "change", &type_name)?;
            if type_name == "planned_change" {
                MessageKind::PlannedChange {
                    resource: c.resource,
                    action: c.action,
                    reason: c.reason,
                }
            } else {
                MessageKind::ResourceDrift {
                    resource: c.resource,
                    action: c.action,
                }
            }
        }
        "apply_start" | "apply_progress" | "apply_complete" | "apply_errored" => {
            let h: ApplyHook = payload(&mut obj, "hook", &type_name)?;
            let elapsed = || {
                h.elapsed_seconds
                    .ok_or_else(|| bad(&type_name, "missing field `elapsed_seconds`"))
            };
            match type_name.as_str() {
                "apply_start" => MessageKind::ApplyStart {
                    id_key: h.id_key,
                    id_value: h.id_value,
                    resource: h.resource,
                    action: h.action,
                },
                "apply_progress" => MessageKind::ApplyProgress {
                    elapsed_seconds: elapsed()?,
                    resource: h.resource,
                    action: h.action,
                },
                "apply_complete" => MessageKind::ApplyComplete {
                    elapsed_seconds: elapsed()?,
                    id_key: h.id_key,
                    id_value: h.id_value,
                    resource: h.resource,
                    action: h.action,
                },
                _ => MessageKind::ApplyErrored {
                    elapsed_seconds: elapsed()?,
                    resource: h.resource,
                    action: h.action,
                },
            }
        }
        "refresh_start" | "refresh_complete" => {
            let h: ResourceOnly = payload(&mut obj, "hook", &type_name)?;
            if type_name == "refresh_start" {
                MessageKind::RefreshStart {
                    resource: h.resource,
                }
            } else {
                MessageKind::RefreshComplete {
                    resource: h.resource,
                }
            }
        }
        "provision_start" | "provision_progress" | "provision_complete" | "provision_errored" => {
            let h: ProvisionHook = payload(&mut obj, "hook", &type_name)?;
            let (resource, provisioner) = (h.resource, h.provisioner);
            match type_name.as_str() {
                "provision_start" => MessageKind::ProvisionStart {
                    resource,
                    provisioner,
                },
                "provision_progress" => MessageKind::ProvisionProgress {
                    resource,
                    provisioner,
                    output: h.output.unwrap_or_default(),
                },
                "provision_complete" => MessageKind::ProvisionComplete {
                    resource,
                    provisioner,
                },
                _ => MessageKind::ProvisionErrored {
                    resource,
                    provisioner,
                },
            }
        }
        "diagnostic" => {
            let d: RawDiagnostic = payload(&mut obj, "diagnostic", &type_name)?;
            MessageKind::Diagnostic(d.into())
        }
        "change_summary" => {
            let c: RawChanges = payload(&mut obj, "changes", &type_name)?;
            MessageKind::ChangeSummary {
                add: c.add,
                change: c.change,
                import: c.import,
                remove: c.remove,
                operation: c.operation,
            }
        }
        "outputs" => {
            // Only the keys are read; values (present after apply for non-sensitive outputs)
            // are dropped with `obj`.
            let names = match obj.get("outputs") {
                Some(Value::Object(map)) => map.keys().cloned().collect(),
                None | Some(Value::Null) => Vec::new(),
                Some(_) => return Err(bad(&type_name, "`outputs` is not an object")),
            };
            MessageKind::Outputs { names }
        }
        "init_output" => MessageKind::InitOutput {
            message_code: opt_string(&obj, "message_code").unwrap_or_default(),
        },
        "log" => MessageKind::Log,
        _ => MessageKind::Unknown { type_name },
    };
    Ok(kind)
}

/// A value of `terraform output -json`. `Debug` prints `[REDACTED]` in place of a sensitive
/// value; there is deliberately no `Serialize`.
#[derive(Clone, PartialEq)]
pub struct OutputValue {
    pub sensitive: bool,
    pub value: Value,
}

impl fmt::Debug for OutputValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("OutputValue");
        d.field("sensitive", &self.sensitive);
        if self.sensitive {
            d.field("value", &format_args!("[REDACTED]"));
        } else {
            d.field("value", &self.value);
        }
        d.finish()
    }
}

/// Parses `terraform output -json` (all outputs): `{name: {sensitive, type, value}}`. Sensitive
/// values are in plain text there; keep them out of anything that streams to a UI.
pub fn parse_outputs(json: &str) -> Result<BTreeMap<String, OutputValue>, StreamError> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        sensitive: bool,
        #[serde(default)]
        value: Value,
    }
    let raw: BTreeMap<String, Raw> =
        serde_json::from_str(json).map_err(|e| doc_err("output", &e))?;
    Ok(raw
        .into_iter()
        .map(|(name, r)| {
            let v = OutputValue {
                sensitive: r.sensitive,
                value: r.value,
            };
            (name, v)
        })
        .collect())
}

/// The result of `terraform validate -json` (a single document, not a stream).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidateReport {
    pub valid: bool,
    pub error_count: u64,
    pub warning_count: u64,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses `terraform validate -json`.
pub fn parse_validate(json: &str) -> Result<ValidateReport, StreamError> {
    #[derive(Deserialize)]
    struct Raw {
        valid: bool,
        #[serde(default)]
        error_count: u64,
        #[serde(default)]
        warning_count: u64,
        #[serde(default)]
        diagnostics: Vec<RawDiagnostic>,
    }
    let raw: Raw = serde_json::from_str(json).map_err(|e| doc_err("validate", &e))?;
    Ok(ValidateReport {
        valid: raw.valid,
        error_count: raw.error_count,
        warning_count: raw.warning_count,
        diagnostics: raw.diagnostics.into_iter().map(Into::into).collect(),
    })
}

// ---- payload shapes (unknown keys are ignored by serde's default) ----

#[derive(Deserialize)]
struct ChangePayload {
    resource: ResourceAddr,
    action: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct ApplyHook {
    resource: ResourceAddr,
    action: String,
    #[serde(default)]
    id_key: Option<String>,
    #[serde(default)]
    id_value: Option<String>,
    #[serde(default)]
    elapsed_seconds: Option<f64>,
}

#[derive(Deserialize)]
struct ResourceOnly {
    resource: ResourceAddr,
}

#[derive(Deserialize)]
struct ProvisionHook {
    resource: ResourceAddr,
    provisioner: String,
    #[serde(default)]
    output: Option<String>,
}

#[derive(Deserialize)]
struct RawChanges {
    #[serde(default)]
    add: u64,
    #[serde(default)]
    change: u64,
    #[serde(default)]
    import: u64,
    #[serde(default)]
    remove: u64,
    #[serde(default)]
    operation: String,
}

#[derive(Deserialize)]
struct RawDiagnostic {
    severity: String,
    summary: String,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    range: Option<RawRange>,
}

#[derive(Deserialize)]
struct RawRange {
    filename: String,
    start: RawPos,
}

#[derive(Deserialize)]
struct RawPos {
    line: u64,
    column: u64,
}

impl From<RawDiagnostic> for Diagnostic {
    fn from(d: RawDiagnostic) -> Self {
        Diagnostic {
            severity: d.severity,
            summary: d.summary,
            detail: d.detail,
            address: d.address,
            range: d
                .range
                .map(|r| format!("{}:{}:{}", r.filename, r.start.line, r.start.column)),
        }
    }
}

// ---- helpers ----

fn take_string(obj: &mut Map<String, Value>, key: &str) -> String {
    match obj.remove(key) {
        Some(Value::String(s)) => s,
        Some(other) if !other.is_null() => other.to_string(),
        _ => String::new(),
    }
}

fn opt_string(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn payload<T: serde::de::DeserializeOwned>(
    obj: &mut Map<String, Value>,
    key: &str,
    type_name: &str,
) -> Result<T, StreamError> {
    let v = obj
        .remove(key)
        .ok_or_else(|| bad(type_name, &format!("missing `{key}` object")))?;
    serde_json::from_value(v).map_err(|e| bad(type_name, &redact_quoted(&e.to_string())))
}

fn bad(type_name: &str, reason: &str) -> StreamError {
    StreamError::BadPayload {
        type_name: type_name.to_owned(),
        reason: reason.to_owned(),
    }
}

fn doc_err(what: &'static str, e: &serde_json::Error) -> StreamError {
    StreamError::BadDocument {
        what,
        reason: redact_quoted(&e.to_string()),
    }
}

/// serde_json messages quote offending string values (`invalid type: string "…"`); those could
/// be secrets, so every double-quoted span is replaced by `"…"`. Field names (in backticks),
/// numbers and positions stay.
pub(crate) fn redact_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut in_quotes = false;
    for c in msg.chars() {
        if c == '"' {
            if in_quotes {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            in_quotes = !in_quotes;
        } else if !in_quotes {
            out.push(c);
        }
    }
    if in_quotes {
        out.push_str("…\"");
    }
    out
}

fn snippet(line: &str) -> String {
    let mut s: String = line.chars().take(SNIPPET_CHARS).collect();
    if line.chars().nth(SNIPPET_CHARS).is_some() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const RES: &str = r#"{"addr":"module.m.azurerm_role_assignment.r[\"reader\"]","module":"module.m","resource":"azurerm_role_assignment.r[\"reader\"]","implied_provider":"azurerm","resource_type":"azurerm_role_assignment","resource_name":"r","resource_key":"reader"}"#;

    fn line(type_name: &str, extra: &str) -> String {
        format!(
            r#"{{"@level":"info","@message":"m","@module":"terraform.ui","@timestamp":"2026-11-22T06:00:32-04:00","type":"{type_name}"{extra}}}"#
        )
    }

    #[test]
    fn unknown_type_keeps_message() {
        let m = parse_line(&line(
            "test_summary",
            r#","test_summary":{"status":"pass"}"#,
        ))
        .unwrap();
        assert_eq!(
            m.kind,
            MessageKind::Unknown {
                type_name: "test_summary".into()
            }
        );
        assert_eq!(m.message, "m");
        assert_eq!(m.timestamp, "2026-11-22T06:00:32-04:00");
    }

    #[test]
    fn ui_major_2_is_refused_minor_bumps_accepted() {
        let v2 = line("version", r#","terraform":"9.0.0","ui":"2.0""#);
        assert_eq!(
            parse_line(&v2),
            Err(StreamError::UnsupportedUi { ui: "2.0".into() })
        );
        assert!(parse_line(&v2).unwrap_err().is_fatal());
        let v13 = line("version", r#","tofu":"1.9.0","ui":"1.3","new_key":1"#);
        assert_eq!(
            parse_line(&v13).unwrap().kind,
            MessageKind::Version {
                terraform: Some("1.9.0".into()),
                ui: "1.3".into()
            }
        );
    }

    #[test]
    fn non_json_is_an_error_not_a_panic() {
        for l in [
            "",
            "Terraform crashed!",
            "{\"type\":",
            "\u{1F4A5}".repeat(200).as_str(),
        ] {
            match parse_line(l) {
                Err(StreamError::NotJson { line_snippet }) => {
                    assert!(line_snippet.chars().count() <= SNIPPET_CHARS + 1)
                }
                other => panic!("{l:?} -> {other:?}"),
            }
        }
        assert!(matches!(
            parse_line("[1,2]"),
            Err(StreamError::BadEnvelope { .. })
        ));
        assert!(matches!(
            parse_line(r#"{"@message":"x"}"#),
            Err(StreamError::BadEnvelope { .. })
        ));
    }

    #[test]
    fn for_each_key_module_and_reason() {
        let m = parse_line(&line(
            "planned_change",
            &format!(r#","change":{{"resource":{RES},"action":"replace","reason":"tainted","importing":{{"id":"x"}}}}"#),
        ))
        .unwrap();
        let MessageKind::PlannedChange {
            resource,
            action,
            reason,
        } = m.kind
        else {
            panic!("{:?}", m.kind)
        };
        assert_eq!(resource.module, "module.m");
        assert_eq!(resource.resource_key, Some(Value::String("reader".into())));
        assert_eq!(action, "replace");
        assert_eq!(reason.as_deref(), Some("tainted"));
    }

    #[test]
    fn fractional_elapsed_and_missing_elapsed() {
        let ok = line(
            "apply_progress",
            &format!(r#","hook":{{"resource":{RES},"action":"create","elapsed_seconds":10.5}}"#),
        );
        assert!(matches!(
            parse_line(&ok).unwrap().kind,
            MessageKind::ApplyProgress { elapsed_seconds, .. } if elapsed_seconds == 10.5
        ));
        let missing = line(
            "apply_complete",
            &format!(r#","hook":{{"resource":{RES},"action":"create"}}"#),
        );
        assert!(matches!(
            parse_line(&missing),
            Err(StreamError::BadPayload { .. })
        ));
    }

    #[test]
    fn stream_outputs_keep_names_only() {
        let m = parse_line(&line(
            "outputs",
            r#","outputs":{"b":{"sensitive":false,"type":"string","value":"visible-canary"},"a":{"sensitive":true,"type":"string"}}"#,
        ))
        .unwrap();
        assert_eq!(
            m.kind,
            MessageKind::Outputs {
                names: vec!["a".into(), "b".into()]
            }
        );
        assert!(!format!("{m:?}").contains("visible-canary"));
        assert!(
            !serde_json::to_string(&m)
                .unwrap()
                .contains("visible-canary")
        );
    }

    #[test]
    fn payload_errors_do_not_echo_string_values() {
        let l = line(
            "diagnostic",
            r#","diagnostic":{"severity":"error","summary":{"x":1},"detail":"d"}"#,
        );
        assert!(matches!(
            parse_line(&l),
            Err(StreamError::BadPayload { .. })
        ));
        let e = parse_outputs(r#"{"s":{"sensitive":"hunter2-canary","value":"x"}}"#).unwrap_err();
        assert!(!e.to_string().contains("hunter2-canary"), "{e}");
    }

    #[test]
    fn redact_quoted_spans() {
        assert_eq!(
            redact_quoted(r#"invalid type: string "abc", expected `f64` at line 1"#),
            r#"invalid type: string "…", expected `f64` at line 1"#
        );
        assert_eq!(redact_quoted(r#"open "abc"#), r#"open "…""#);
    }

    #[test]
    fn serializes_with_type_tag() {
        let m = parse_line(&line("log", "")).unwrap();
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["kind"]["type"], "log");
    }
}
