//! The client secrets of an identity we created, as a set that a rotation changes without
//! downtime: add a new password beside the old one, switch the platform account to it, then
//! remove the old one.
//!
//! Onboarding creates `azuread_application_password.prisma_cloud` (the *initial* password,
//! with its `time_rotating.secret` clock). A rotation adds keyed passwords,
//! `azuread_application_password.rotated["<key>"]`, each with its own clock
//! `time_rotating.rotated["<key>"]`, over `for_each = toset(var.password_keys)`. The outputs
//! (client secret and its end date) always name the *active* password: the last key, or the
//! initial one when there is no key. Removing a password is leaving it out of the set: the
//! next apply destroys it.
//!
//! | set | resources | outputs |
//! |---|---|---|
//! | `initial` (onboarding) | `prisma_cloud` | `prisma_cloud` |
//! | rotation adds `k1` | `prisma_cloud`, `rotated["k1"]` | `rotated["k1"]` |
//! | old removed | `rotated["k1"]` | `rotated["k1"]` |
//! | next rotation adds `k2` | `rotated["k1"]`, `rotated["k2"]` | `rotated["k2"]` |
//!
//! The set in force is read back from the Terraform state ([`Passwords::from_state`]), real or
//! twin, so it never depends on a record kept beside it.

use serde_json::{Value, json};

use crate::ConfigError;
use crate::builtin::{Block, Model};

/// The variable listing the rotated passwords' keys (oldest first; the last is active).
pub const KEYS_VAR: &str = "password_keys";
const PASSWORD: &str = "azuread_application_password";
const CLOCK: &str = "time_rotating";
const INITIAL: &str = "prisma_cloud";
const INITIAL_CLOCK: &str = "secret";
const ROTATED: &str = "rotated";

/// A rotated password's key: 1 to 40 of `a-z`, `0-9`, `-`, starting with a letter.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PasswordKey(String);

impl PasswordKey {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let ok = (1..=40).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ConfigError::new(
                "password_key",
                format!(
                    "{raw:?} is not a password key (1 to 40 of a-z, 0-9 and '-', starting with a letter)"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PasswordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which passwords the identity has: the initial one or not, and the rotated ones in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passwords {
    pub initial: bool,
    /// Oldest first; the last is the active one.
    pub rotated: Vec<PasswordKey>,
}

impl Default for Passwords {
    fn default() -> Self {
        Self::initial()
    }
}

impl Passwords {
    /// Onboarding's set: the initial password only.
    pub fn initial() -> Self {
        Self {
            initial: true,
            rotated: Vec::new(),
        }
    }

    /// The passwords a Terraform state (`terraform.tfstate`, real or twin) holds. A state with
    /// none (never applied) is onboarding's set.
    pub fn from_state(state: &Value) -> Self {
        let mut initial = false;
        let mut rotated = Vec::new();
        for r in state["resources"].as_array().into_iter().flatten() {
            if r["mode"] != "managed" {
                continue;
            }
            let (ty, name) = match (r["type"].as_str(), r["name"].as_str()) {
                (Some("terraform_data"), Some(n)) => match n.split_once("__") {
                    Some((t, n)) => (t, n),
                    None => continue,
                },
                (Some(t), Some(n)) => (t, n),
                _ => continue,
            };
            if ty != PASSWORD {
                continue;
            }
            match name {
                INITIAL => initial = true,
                ROTATED => {
                    for i in r["instances"].as_array().into_iter().flatten() {
                        if let Some(k) = i["index_key"]
                            .as_str()
                            .and_then(|k| PasswordKey::parse(k).ok())
                        {
                            rotated.push((created_order(i), k));
                        }
                    }
                }
                _ => {}
            }
        }
        if !initial && rotated.is_empty() {
            return Self::initial();
        }
        // A state lists `for_each` instances by key; the keys carry their creation order
        // (they are made from the time of the rotation) so sorting them restores it.
        rotated.sort();
        Self {
            initial,
            rotated: rotated.into_iter().map(|(_, k)| k).collect(),
        }
    }

    /// The active password's key (`None`: the initial one).
    pub fn active(&self) -> Option<&PasswordKey> {
        self.rotated.last()
    }

    /// This set with `key` added as the active password (kept as is if it is already active).
    pub fn with_added(&self, key: &PasswordKey) -> Self {
        let mut next = self.clone();
        if next.active() != Some(key) {
            next.rotated.retain(|k| k != key);
            next.rotated.push(key.clone());
        }
        next
    }

    /// Only `key`: every other password removed.
    pub fn only(key: &PasswordKey) -> Self {
        Self {
            initial: false,
            rotated: vec![key.clone()],
        }
    }

    /// How many passwords the set has.
    pub fn len(&self) -> usize {
        usize::from(self.initial) + self.rotated.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Sort key of an instance: its key (made from the rotation's time, so in creation order).
fn created_order(instance: &Value) -> String {
    instance["index_key"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Gives `model` (onboarding's configuration) the password set `passwords`: keyed passwords
/// added, the initial one removed when the set leaves it out, the outputs on the active one.
pub(crate) fn apply(model: &mut Model, passwords: &Passwords) -> Result<(), ConfigError> {
    if passwords.is_empty() {
        return Err(ConfigError::new(
            "passwords",
            "an identity keeps at least one client secret",
        ));
    }
    if passwords.rotated.is_empty() {
        return Ok(());
    }
    let find = |ty: &str, name: &str| {
        model
            .blocks
            .iter()
            .position(|b| b.ty == ty && b.name == name)
            .ok_or_else(|| {
                ConfigError::new(
                    "passwords",
                    format!("the configuration has no {ty}.{name} to rotate"),
                )
            })
    };
    let initial = model.blocks[find(PASSWORD, INITIAL)?].body.clone();
    let clock = model.blocks[find(CLOCK, INITIAL_CLOCK)?].body.clone();
    let keys: Vec<String> = passwords
        .rotated
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect();
    model.variables.insert(
        KEYS_VAR.into(),
        json!({
            "type": "list(string)",
            "description": "Keys of the rotated client secrets, oldest first; the last is the one in use.",
        }),
    );
    model.tfvars.insert(KEYS_VAR.into(), json!(keys));

    let mut rotated_clock = clock;
    rotated_clock["for_each"] = json!(format!("${{toset(var.{KEYS_VAR})}}"));
    let mut rotated = initial;
    rotated["for_each"] = json!(format!("${{toset(var.{KEYS_VAR})}}"));
    rotated["display_name"] = json!("Prisma Cloud ${var.name_suffix} ${each.key}");
    rotated["end_date"] = json!(format!("${{{CLOCK}.{ROTATED}[each.key].rotation_rfc3339}}"));
    rotated["rotate_when_changed"] =
        json!({ "rotation": format!("${{{CLOCK}.{ROTATED}[each.key].id}}") });
    if !passwords.initial {
        model.blocks.retain(|b| {
            !(b.ty == PASSWORD && b.name == INITIAL || b.ty == CLOCK && b.name == INITIAL_CLOCK)
        });
    }
    for (ty, body) in [(CLOCK, rotated_clock), (PASSWORD, rotated)] {
        model.blocks.push(Block {
            ty: ty.into(),
            name: ROTATED.into(),
            body,
            instances: Some(keys.clone()),
        });
    }

    let active = passwords.active().expect("not empty").as_str();
    let names = model.output_names;
    let at = |attr: &str| format!("${{{PASSWORD}.{ROTATED}[\"{active}\"].{attr}}}");
    model.outputs[names.client_secret]["value"] = json!(at("value"));
    if let Some(name) = names.secret_expiry {
        model.outputs[name]["value"] = json!(at("end_date"));
    }
    Ok(())
}

/// The twin resource (name under `terraform_data`) and instance of the active password, for
/// the twin's outputs: `("azuread_application_password__prisma_cloud", "")` or
/// `("azuread_application_password__rotated", "[\"k\"]")`.
pub(crate) fn active_twin_password(model: &Model) -> (String, String) {
    let keys = model.tfvars.get(KEYS_VAR).and_then(Value::as_array);
    match keys.and_then(|k| k.last()).and_then(Value::as_str) {
        Some(key)
            if model
                .blocks
                .iter()
                .any(|b| b.ty == PASSWORD && b.name == ROTATED) =>
        {
            (format!("{PASSWORD}__{ROTATED}"), format!("[\"{key}\"]"))
        }
        _ => (format!("{PASSWORD}__{INITIAL}"), String::new()),
    }
}

/// The twin clock a twin password reads its end date from.
pub(crate) fn twin_clock_of(block: &Block) -> String {
    if block.name == ROTATED {
        format!("${{terraform_data.{CLOCK}__{ROTATED}[each.key].output.rotation_rfc3339}}")
    } else {
        format!("${{terraform_data.{CLOCK}__{INITIAL_CLOCK}.output.rotation_rfc3339}}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> PasswordKey {
        PasswordKey::parse(k).unwrap()
    }

    #[test]
    fn keys_are_checked() {
        for bad in ["", "1abc", "A", "a_b", &"a".repeat(41), "a b"] {
            assert_eq!(PasswordKey::parse(bad).unwrap_err().field, "password_key");
        }
        assert_eq!(key("r20261202t0325").as_str(), "r20261202t0325");
    }

    #[test]
    fn the_set_moves_through_a_rotation() {
        let start = Passwords::initial();
        assert_eq!(start.active(), None);
        let added = start.with_added(&key("r1"));
        assert_eq!(added.len(), 2);
        assert_eq!(added.active(), Some(&key("r1")));
        assert_eq!(
            added.with_added(&key("r1")),
            added,
            "adding again converges"
        );
        let after = Passwords::only(&key("r1"));
        assert_eq!(after.len(), 1);
        let next = after.with_added(&key("r2"));
        assert_eq!(next.rotated, vec![key("r1"), key("r2")]);
        assert!(!next.initial);
    }

    #[test]
    fn the_set_is_read_from_real_and_twin_states() {
        let real = json!({"resources": [
            {"mode": "managed", "type": "azuread_application_password", "name": "prisma_cloud", "instances": [{}]},
            {"mode": "managed", "type": "azuread_application_password", "name": "rotated",
             "instances": [{"index_key": "r2"}, {"index_key": "r1"}]},
            {"mode": "data", "type": "azuread_application_password", "name": "rotated", "instances": [{"index_key": "x9"}]},
        ]});
        assert_eq!(
            Passwords::from_state(&real),
            Passwords {
                initial: true,
                rotated: vec![key("r1"), key("r2")]
            }
        );
        let twin = json!({"resources": [
            {"mode": "managed", "type": "terraform_data", "name": "azuread_application_password__rotated",
             "instances": [{"index_key": "r1"}]},
        ]});
        assert_eq!(Passwords::from_state(&twin), Passwords::only(&key("r1")));
        assert_eq!(Passwords::from_state(&json!({})), Passwords::initial());
    }
}
