//! The offline twin of [`super::builtin`]: every managed resource `TYPE.NAME` becomes
//! `terraform_data.TYPE__NAME` (instance keys unchanged; [`crate::twin::twin_address`]), with
//! the same `for_each`, the same dependencies, the same variables (validations included) and
//! the same seven outputs. It needs no provider, so `terraform init/plan/apply` run offline.
//!
//! * Each resource sleeps `step_seconds` in a `local-exec`, so a run streams like a real one.
//! * `input` holds the attributes the locals and outputs read, with Azure-shaped IDs built from
//!   the variables (`uuidv5` where Azure makes up a GUID), so the same variables give the same
//!   values and a second apply changes nothing.
//! * The callback (`terraform_data.terracurl_request__create_connector_notification`) really
//!   sends `PUT upload_output_url` with the `create_connector` body, using `curl`: the URL and
//!   the body reach the shell through the provisioner's `environment`, never its command line;
//!   `curl` reads the URL from its standard input (`--config -`), so it is not in any process's
//!   arguments either. 200 and 202 succeed; anything else fails the apply, naming the status.
//!   `curl --retry 3 --max-time 30` mirrors terracurl's `max_retry` and `timeout`.

use serde_json::{Map, Value, json};

use super::model::{self, Flavor};
use super::{
    CALLBACK_MAX_RETRY, CALLBACK_TIMEOUT_SECONDS, CortexConfig, CortexTemplate, UPLOAD_URL_VAR,
};
use crate::ConfigError;
use crate::builtin::{Block, REQUIRED_TERRAFORM, planned_resources, render_blocks};
use crate::twin::{MAX_STEP_SECONDS, seconds_arg, twin_address};

/// The callback's environment variable holding the upload URL.
pub const URL_ENV: &str = "CORTEX_UPLOAD_URL";
/// The callback's environment variable holding the JSON body.
pub const BODY_ENV: &str = "CORTEX_NOTIFICATION";

/// The shell script of the twin's callback. `%%{` is Terraform's escape of `%{`.
fn callback_script() -> String {
    format!(
        "set -eu\n\
         body=$(mktemp)\n\
         trap 'rm -f \"$body\"' EXIT\n\
         printf '%s' \"${BODY_ENV}\" > \"$body\"\n\
         code=$(printf 'url = \"%s\"\\n' \"${URL_ENV}\" | curl --silent --show-error --config - \
         --request PUT --header 'Content-Type: application/json' --data-binary \"@$body\" \
         --max-time {CALLBACK_TIMEOUT_SECONDS} --retry {CALLBACK_MAX_RETRY} \
         --output /dev/null --write-out '%%{{http_code}}')\n\
         case \"$code\" in\n  \
           200|202) echo \"create_connector: HTTP $code\" ;;\n  \
           *) echo \"create_connector: HTTP $code from the upload URL\" >&2; exit 1 ;;\n\
         esac\n"
    )
}

/// Generates the twin of `builtin::generate(template)`; each resource sleeps `step_seconds`.
pub fn generate(template: &CortexTemplate, step_seconds: f64) -> Result<CortexConfig, ConfigError> {
    if !step_seconds.is_finite() || !(0.0..=MAX_STEP_SECONDS).contains(&step_seconds) {
        return Err(ConfigError::new(
            "step_seconds",
            format!("must be between 0 and {MAX_STEP_SECONDS} seconds"),
        ));
    }
    let m = model::model(template, Flavor::Twin);
    let real = planned_resources(&m.blocks);
    let sleep = format!("sleep {}", seconds_arg(step_seconds));
    let blocks: Vec<Block> = m
        .blocks
        .iter()
        .map(|b| {
            let address = b.address();
            let depends_on: Vec<Value> = real
                .iter()
                .find(|r| r.config_address() == address)
                .map(|r| {
                    r.depends_on
                        .iter()
                        .map(|d| json!(twin_address(d)))
                        .collect()
                })
                .unwrap_or_default();
            let mut body = Map::new();
            if let Some(for_each) = b.body.get("for_each") {
                body.insert("for_each".into(), for_each.clone());
            }
            body.insert("input".into(), twin_input(b));
            if !depends_on.is_empty() {
                body.insert("depends_on".into(), Value::Array(depends_on));
            }
            let provisioner = if b.ty == "terracurl_request" {
                json!({ "local-exec": {
                    "interpreter": ["/bin/sh", "-c"],
                    "command": callback_script(),
                    "environment": {
                        URL_ENV: format!("${{var.{UPLOAD_URL_VAR}}}"),
                        BODY_ENV: "${jsonencode(local.notification)}",
                    },
                }})
            } else {
                json!({ "local-exec": { "command": sleep } })
            };
            body.insert("provisioner".into(), json!([provisioner]));
            Block {
                ty: "terraform_data".into(),
                name: format!("{}__{}", b.ty, b.name),
                body: Value::Object(body),
                instances: b.instances.clone(),
            }
        })
        .collect();
    let main = json!({
        "terraform": { "required_version": REQUIRED_TERRAFORM },
        "variable": Value::Object(m.variables),
        "locals": Value::Object(m.locals),
        "resource": render_blocks(&blocks),
        "output": Value::Object(m.outputs),
    });
    Ok(CortexConfig {
        main_tf_json: main,
        resources: planned_resources(&blocks),
    })
}

/// Plausible attributes: the real resource's address and name, and IDs shaped like Azure's.
fn twin_input(b: &Block) -> Value {
    let address = b.address();
    let key = if b.instances.is_some() {
        "/${each.key}"
    } else {
        ""
    };
    let uuid = |attr: &str| {
        format!(
            "${{uuidv5(\"oid\", \"${{var.tenant_id}}/${{var.resource_suffix}}/{address}{key}/{attr}\")}}"
        )
    };
    let name = b
        .body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let group = "/subscriptions/${var.subscription_id}/resourceGroups/cortex-onboarding-${var.resource_suffix}";
    let mut input = Map::new();
    input.insert("resource".into(), json!(address));
    if b.instances.is_some() {
        input.insert("key".into(), json!("${each.key}"));
    }
    if !name.is_empty() {
        input.insert("name".into(), json!(name));
    }
    let id = match b.ty.as_str() {
        "azurerm_resource_group" => {
            format!("/subscriptions/${{var.subscription_id}}/resourceGroups/{name}")
        }
        "azurerm_user_assigned_identity" => {
            input.insert("client_id".into(), json!(uuid("client_id")));
            input.insert("principal_id".into(), json!(uuid("principal_id")));
            format!("{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}")
        }
        "azurerm_role_definition" => {
            let id = format!(
                "${{local.role_scope}}/providers/Microsoft.Authorization/roleDefinitions/{}",
                uuid("role_definition_id")
            );
            input.insert("role_definition_resource_id".into(), json!(id));
            id
        }
        "azurerm_policy_definition" => {
            format!(
                "${{local.role_scope}}/providers/Microsoft.Authorization/policyDefinitions/{name}"
            )
        }
        "azurerm_management_group_policy_assignment" => {
            format!(
                "${{local.role_scope}}/providers/Microsoft.Authorization/policyAssignments/{name}"
            )
        }
        "azurerm_eventhub_namespace" => {
            format!("{group}/providers/Microsoft.EventHub/namespaces/{name}")
        }
        "azurerm_eventhub" => format!(
            "{group}/providers/Microsoft.EventHub/namespaces/cortex-audit-${{local.uniq}}/eventhubs/{name}"
        ),
        _ => uuid("id"),
    };
    input.insert("id".into(), json!(id));
    Value::Object(input)
}
