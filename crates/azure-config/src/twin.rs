//! The offline twin of [`crate::builtin`]: the same resource graph and outputs, made only of
//! Terraform's built-in `terraform_data` resource (Terraform ≥ 1.4; `plantimestamp()` needs
//! 1.5). `terraform init && terraform plan -out p && terraform apply p` works with no network
//! and no provider, so the runner, the JSON UI-stream parser and the web UI can be driven by a
//! real Terraform end to end.
//!
//! # Address mapping
//!
//! Every managed resource `TYPE.NAME` of the builtin configuration becomes
//! `terraform_data.TYPE__NAME` (type and name joined by a **double underscore**; provider
//! resource types never contain one). Instance keys carry over unchanged:
//! `azurerm_role_assignment.builtin["Reader"]` ↔
//! `terraform_data.azurerm_role_assignment__builtin["Reader"]`. See [`twin_address`] and
//! [`builtin_address`]. Data sources have no twin (they are read during `plan`).
//!
//! # What each twin resource does
//!
//! * `for_each`: the builtin expression, over the same variables with the same defaults, so the
//!   instance keys are identical.
//! * `depends_on`: the builtin dependencies (explicit and by reference), translated.
//! * `provisioner "local-exec"`: `sleep <step_seconds>`, so a run streams `apply_start`,
//!   `provision_*`, `apply_progress` (for steps of 10 s and more) and `apply_complete` over
//!   time, like a real apply.
//! * `input`: plausible attributes. IDs are `uuidv5("oid", "<tenant>/<suffix>/<address>/<attr>")`
//!   of the variables, so the same input gives the same IDs and re-applying converges. The
//!   `time_rotating` twin computes `rotation_rfc3339` from `plantimestamp()` and ignores later
//!   changes to its input (replaced when `secret_rotation_days` changes), like the real clock.
//!
//! # Outputs
//!
//! The same names as the builtin configuration ([`crate::outputs::names_for`]). The client
//! secret is `substr(sha256("<seed>/<password key id>"), 0, 40)` of the sensitive variable
//! `twin_secret_seed`, which has no default: the engine passes a random seed through
//! `TF_VAR_twin_secret_seed`. The secret output is `sensitive = true`.

use serde_json::{Map, Value, json};

use crate::builtin::{self, Block, REQUIRED_TERRAFORM};
use crate::{ConfigError, ConfigInput, GeneratedConfig};

/// The variable that seeds the twin's client secret (set it with `TF_VAR_twin_secret_seed`).
pub const SECRET_SEED_VAR: &str = "twin_secret_seed";
/// Longest accepted step.
pub const MAX_STEP_SECONDS: f64 = 3600.0;

/// The twin address of a builtin resource (instance or configuration) address:
/// `TYPE.NAME[KEY]` → `terraform_data.TYPE__NAME[KEY]`.
pub fn twin_address(builtin_address: &str) -> String {
    let (config, key) = split_key(builtin_address);
    format!("terraform_data.{}{key}", config.replacen('.', "__", 1))
}

/// The builtin address of a twin address; `None` if it is not one.
pub fn builtin_address(twin_address: &str) -> Option<String> {
    let rest = twin_address.strip_prefix("terraform_data.")?;
    let (config, key) = split_key(rest);
    let (ty, name) = config.split_once("__")?;
    Some(format!("{ty}.{name}{key}"))
}

fn split_key(address: &str) -> (&str, &str) {
    match address.find('[') {
        Some(i) => address.split_at(i),
        None => (address, ""),
    }
}

/// `sleep` argument: at most millisecond precision, no trailing zeros.
pub(crate) fn seconds_arg(step_seconds: f64) -> String {
    let s = format!("{step_seconds:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() { "0".into() } else { s.into() }
}

/// The twin of builtin block `b`: `terraform_data.TYPE__NAME` with `b`'s `for_each`, the
/// dependencies `builtin_resources` lists for it (translated to twin addresses), `input`, and
/// the `extra` body entries (provisioners, lifecycle).
pub(crate) fn twin_block(
    b: &Block,
    builtin_resources: &[crate::PlannedResource],
    input: Value,
    extra: Map<String, Value>,
) -> Block {
    let address = b.address();
    let depends_on: Vec<Value> = builtin_resources
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
    body.insert("input".into(), input);
    if !depends_on.is_empty() {
        body.insert("depends_on".into(), Value::Array(depends_on));
    }
    body.extend(extra);
    Block {
        ty: "terraform_data".into(),
        name: format!("{}__{}", b.ty, b.name),
        body: Value::Object(body),
        instances: b.instances.clone(),
    }
}

/// Generates the twin of `builtin::generate(input)`; each resource sleeps `step_seconds`.
pub fn generate(input: &ConfigInput, step_seconds: f64) -> Result<GeneratedConfig, ConfigError> {
    from_model(builtin::model(input)?, step_seconds)
}

/// The twin of [`builtin::generate_with_passwords`]: the same password set, modelled as
/// `terraform_data` (each password its own key id, so its own secret).
pub fn generate_with_passwords(
    input: &ConfigInput,
    step_seconds: f64,
    passwords: &crate::passwords::Passwords,
) -> Result<GeneratedConfig, ConfigError> {
    let mut model = builtin::model(input)?;
    crate::passwords::apply(&mut model, passwords)?;
    from_model(model, step_seconds)
}

/// The twin of a configuration model (ours for one scope, or the tenant's shared identity:
/// [`crate::tenant_identity`]).
pub(crate) fn from_model(
    model: builtin::Model,
    step_seconds: f64,
) -> Result<GeneratedConfig, ConfigError> {
    if !step_seconds.is_finite() || !(0.0..=MAX_STEP_SECONDS).contains(&step_seconds) {
        return Err(ConfigError::new(
            "step_seconds",
            format!("must be between 0 and {MAX_STEP_SECONDS} seconds"),
        ));
    }
    let builtin_resources = builtin::planned_resources(&model.blocks);
    let sleep = format!("sleep {}", seconds_arg(step_seconds));

    let blocks: Vec<Block> = model
        .blocks
        .iter()
        .map(|b| {
            let mut extra = Map::new();
            if b.ty == "time_rotating" {
                extra.insert(
                    "triggers_replace".into(),
                    json!("${var.secret_rotation_days}"),
                );
                extra.insert("lifecycle".into(), json!({ "ignore_changes": ["input"] }));
            }
            extra.insert(
                "provisioner".into(),
                json!([{ "local-exec": { "command": sleep } }]),
            );
            twin_block(b, &builtin_resources, twin_input(b), extra)
        })
        .collect();

    // A configuration without the identity (the shared identity's role-set chunks) has no
    // outputs and no secret to seed.
    let has_identity = model
        .blocks
        .iter()
        .any(|b| b.ty == "azuread_application_password");
    let mut variables = model.variables.clone();
    if has_identity {
        variables.insert(
            SECRET_SEED_VAR.into(),
            json!({
            "type": "string",
            "sensitive": true,
            "description": "Seed of the twin's client secret; pass it as TF_VAR_twin_secret_seed.",
            }),
        );
    }

    let names = model.output_names;
    let mut outputs = Map::new();
    if has_identity {
        identity_outputs(&model, &mut outputs);
    }

    let mut main = json!({
        "terraform": { "required_version": REQUIRED_TERRAFORM },
        "variable": variables,
        "resource": builtin::render_blocks(&blocks),
    });
    // An empty `output` object is a block without its label to Terraform: leave it out.
    if !outputs.is_empty() {
        main["output"] = Value::Object(outputs);
    }
    Ok(GeneratedConfig {
        main_tf_json: main,
        tfvars_json: Value::Object(model.tfvars),
        resources: builtin::planned_resources(&blocks),
        output_names: names,
    })
}

/// The identity's outputs, under the builtin configuration's names.
fn identity_outputs(model: &builtin::Model, outputs: &mut Map<String, Value>) {
    let names = model.output_names;
    let tf = |twin: &str, attr: &str| format!("${{terraform_data.{twin}.output.{attr}}}");
    let (password, instance) = crate::passwords::active_twin_password(model);
    let active_password = format!("{password}{instance}");
    for (name, value) in [
        (Some(names.tenant_id), "${var.tenant_id}".to_owned()),
        (
            Some(names.client_id),
            tf("azuread_application__prisma_cloud", "client_id"),
        ),
        (
            Some(names.service_principal_object_id),
            tf("azuread_service_principal__prisma_cloud", "object_id"),
        ),
        (names.subscription_id, "${var.subscription_id}".to_owned()),
        (names.secret_expiry, tf(&active_password, "end_date")),
    ] {
        if let Some(name) = name {
            let description = model.outputs[name]["description"].clone();
            outputs.insert(
                name.into(),
                json!({ "value": value, "description": description }),
            );
        }
    }
    outputs.insert(
        names.client_secret.into(),
        json!({
            "value": format!(
                "${{substr(sha256(\"${{var.{SECRET_SEED_VAR}}}/\
                 ${{terraform_data.{active_password}.output.key_id}}\"), 0, 40)}}"
            ),
            "description": model.outputs[names.client_secret]["description"].clone(),
            "sensitive": true,
        }),
    );
}

/// The twin's `input` for a builtin block: its address, a deterministic `id`, and the
/// attributes the outputs read.
fn twin_input(b: &Block) -> Value {
    let address = b.address();
    let key = if b.instances.is_some() {
        "/${each.key}"
    } else {
        ""
    };
    let uuid = |addr: &str, attr: &str| {
        format!(
            "${{uuidv5(\"oid\", \"${{var.tenant_id}}/${{var.name_suffix}}/{addr}{key}/{attr}\")}}"
        )
    };
    let mut input = Map::new();
    input.insert("resource".into(), json!(address));
    if b.instances.is_some() {
        input.insert("key".into(), json!("${each.key}"));
    }
    input.insert("id".into(), json!(uuid(&address, "id")));
    match (b.ty.as_str(), b.name.as_str()) {
        ("azuread_application", _) => {
            input.insert("client_id".into(), json!(uuid(&address, "client_id")));
            input.insert("object_id".into(), json!(uuid(&address, "object_id")));
            input.insert(
                "display_name".into(),
                json!("Prisma Cloud ${var.name_suffix}"),
            );
        }
        ("azuread_service_principal", _) => {
            input.insert("object_id".into(), json!(uuid(&address, "object_id")));
            input.insert(
                "client_id".into(),
                json!(uuid("azuread_application.prisma_cloud", "client_id")),
            );
        }
        ("time_rotating", _) => {
            input.insert(
                "rotation_rfc3339".into(),
                json!("${timeadd(plantimestamp(), \"${var.secret_rotation_days * 24}h\")}"),
            );
        }
        ("azuread_application_password", _) => {
            input.insert("key_id".into(), json!(uuid(&address, "key_id")));
            input.insert("end_date".into(), json!(crate::passwords::twin_clock_of(b)));
        }
        _ => {}
    }
    Value::Object(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_mapping_round_trips() {
        for (b, t) in [
            (
                "azuread_application.prisma_cloud",
                "terraform_data.azuread_application__prisma_cloud",
            ),
            (
                "azurerm_role_assignment.builtin[\"Reader and Data Access\"]",
                "terraform_data.azurerm_role_assignment__builtin[\"Reader and Data Access\"]",
            ),
            (
                "azuread_app_role_assignment.msgraph[\"User.Read.All\"]",
                "terraform_data.azuread_app_role_assignment__msgraph[\"User.Read.All\"]",
            ),
        ] {
            assert_eq!(twin_address(b), t);
            assert_eq!(builtin_address(t).as_deref(), Some(b));
        }
        assert_eq!(builtin_address("azuread_application.x"), None);
        assert_eq!(builtin_address("terraform_data.plain"), None);
    }

    #[test]
    fn sleep_argument() {
        assert_eq!(seconds_arg(0.1), "0.1");
        assert_eq!(seconds_arg(2.0), "2");
        assert_eq!(seconds_arg(0.0), "0");
        assert_eq!(seconds_arg(11.25), "11.25");
        assert_eq!(seconds_arg(0.00001), "0");
    }
}
