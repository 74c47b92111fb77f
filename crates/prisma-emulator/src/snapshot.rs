//! Sandbox persistence: the emulator's state — the Prisma face's accounts and groups, the
//! Cortex face's instances, accounts, capabilities (with their course still to run) and
//! approved tenants — to a JSON file and back, so a sandbox that lives only as long as one
//! command (the CLI) still remembers what earlier commands onboarded.
//!
//! With [`EmulatorState::persist_to`] the file is written through: every successful write
//! request of either face (Prisma: add, update, delete, enable/disable, group changes; Cortex:
//! `create_instance_template`, `edit_instance`, `enable_disable_instance`, `delete_instance`,
//! `enable_disable_account`, the template's callback) saves the file before its answer
//! leaves, so a client that saw a 200 finds the change after a `kill -9` and restart.
//! Saves are atomic (a temporary file, `fsync`, then `rename`) and serialised, and each save
//! takes its copy of the store after it holds the write lock, so the newest state always lands
//! last.
//!
//! Client secrets are never written: every account's `key` is replaced by the asterisks the API
//! returns on reads. Nothing the emulator answers depends on the stored key (it is only ever
//! returned masked), and an update that re-sends the masked key keeps it. Status checks are
//! recomputed from the stored request on load; restored accounts are readable at once.
//! The Cortex face holds no secret in its state (its API keys are configuration, its link
//! signer is derived from them: [`crate::cortex::template::LinkSigner::for_keys`]), so an
//! emulator restarted with the same keys honours the links it issued before.
//! Version 1 files (before the Cortex face was saved) still load, with no Cortex instances.

use std::io;
use std::path::Path;
use std::time::Instant;

use prisma_types::SecretString;
use prisma_types::wire::AzureAccountRequest;
use serde::{Deserialize, Serialize};

use crate::capabilities::evaluate;
use crate::state::EmulatorState;
use crate::store::{AccountRecord, GroupRecord};

const VERSION: u32 = 2;

/// The file. `C` is the Cortex face's state: borrowed when saving (no copy of the
/// instances), owned when loading.
#[derive(Serialize, Deserialize)]
struct Snapshot<C> {
    version: u32,
    accounts: Vec<SavedAccount>,
    groups: Vec<GroupRecord>,
    /// Absent in version 1.
    #[serde(default = "Option::default")]
    cortex: Option<C>,
}

#[derive(Serialize, Deserialize)]
struct SavedAccount {
    account_id: String,
    name: String,
    account_type: String,
    /// The request as received, with `key` masked.
    request: serde_json::Value,
    enabled: bool,
    parent_account_id: Option<String>,
    group_ids: Vec<String>,
    created_ms: i64,
    modified_ms: i64,
    #[serde(default)]
    modified_by: String,
}

fn masked_request(request: &AzureAccountRequest) -> io::Result<serde_json::Value> {
    let mut value = serde_json::to_value(request).map_err(io::Error::other)?;
    value["key"] = serde_json::Value::String(SecretString::masked().to_owned());
    Ok(value)
}

/// Writes both faces' state to `path` (atomically, mode 0600).
pub fn save(state: &EmulatorState, path: &Path) -> io::Result<()> {
    let _serialised = state.persist_lock.lock().unwrap_or_else(|p| p.into_inner());
    let (accounts, groups) = {
        let store = state.store();
        (
            store
                .accounts
                .values()
                .map(|a| {
                    Ok(SavedAccount {
                        account_id: a.account_id.clone(),
                        name: a.name.clone(),
                        account_type: a.account_type.clone(),
                        request: masked_request(&a.request)?,
                        enabled: a.enabled,
                        parent_account_id: a.parent_account_id.clone(),
                        group_ids: a.group_ids.clone(),
                        created_ms: a.created_ms,
                        modified_ms: a.modified_ms,
                        modified_by: a.modified_by.clone(),
                    })
                })
                .collect::<io::Result<Vec<_>>>()?,
            store.groups.values().cloned().collect(),
        )
    };
    let text = {
        let cortex = state.cortex.lock();
        serde_json::to_vec_pretty(&Snapshot {
            version: VERSION,
            accounts,
            groups,
            cortex: Some(&*cortex),
        })
        .map_err(io::Error::other)?
    };
    write_atomically(path, &text)
}

/// Saves to the write-through file, if one is set ([`EmulatorState::persist_to`]).
pub fn persist(state: &EmulatorState) -> io::Result<()> {
    match state.persist_path() {
        Some(path) => save(state, &path),
        None => Ok(()),
    }
}

/// After a request: when it was a write (`is_write`) and succeeded, saves the write-through
/// snapshot before the answer leaves. A save that fails turns the answer into `failure()` (a
/// 500 in the face's error shape), so the client retries instead of trusting a change a
/// restart would lose. Each face's middleware decides what is a write.
pub(crate) fn save_after_write(
    state: &EmulatorState,
    is_write: bool,
    response: axum::response::Response,
    failure: impl FnOnce() -> axum::response::Response,
) -> axum::response::Response {
    if !(is_write && response.status().is_success()) {
        return response;
    }
    match persist(state) {
        Ok(()) => response,
        Err(e) => {
            tracing::error!(error = %e, "emulator: cannot save the write-through snapshot");
            failure()
        }
    }
}

/// A temporary file in the same directory (mode 0600 from the start), flushed to disk, then
/// renamed over `path`; the directory is synced so the rename itself is durable.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Loads a snapshot written by [`save`]; `Ok(false)` when there is none. Replaces the
/// current accounts and groups, and the Cortex face's instances and approved tenants (the
/// tenants approved by configuration and not in the file are added).
pub fn load(state: &EmulatorState, path: &Path) -> io::Result<bool> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let snapshot: Snapshot<crate::cortex::CortexState> =
        serde_json::from_slice(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
    if !(1..=VERSION).contains(&snapshot.version) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: snapshot version {} (expected {VERSION})",
                path.display(),
                snapshot.version
            ),
        ));
    }
    let book = state.scenarios();
    let mut store = state.store();
    store.accounts.clear();
    for saved in snapshot.accounts {
        let request: AzureAccountRequest = serde_json::from_value(saved.request).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        let checks = if saved.parent_account_id.is_some() {
            Vec::new()
        } else {
            evaluate(&request, &book)
        };
        store.accounts.insert(
            saved.account_id.clone(),
            AccountRecord {
                account_id: saved.account_id,
                name: saved.name,
                account_type: saved.account_type,
                request,
                enabled: saved.enabled,
                parent_account_id: saved.parent_account_id,
                group_ids: saved.group_ids,
                created_ms: saved.created_ms,
                modified_ms: saved.modified_ms,
                modified_by: saved.modified_by,
                readable_at: Instant::now(),
                checks,
            },
        );
    }
    if !snapshot.groups.is_empty() {
        store.groups = snapshot
            .groups
            .into_iter()
            .map(|g| (g.id.clone(), g))
            .collect();
    }
    store.refresh_group_membership();
    drop(store);
    if let Some(cortex) = snapshot.cortex {
        state
            .cortex
            .lock()
            .restore(cortex, &state.config.cortex.approved_tenants);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmulatorConfig;

    #[tokio::test]
    async fn round_trip_keeps_accounts_and_never_writes_keys() {
        let stop = tokio_util::sync::CancellationToken::new();
        let emu = crate::spawn(
            "127.0.0.1:0".parse().unwrap(),
            EmulatorConfig::new("ak", SecretString::from("sk")),
            None,
            stop.clone().cancelled_owned(),
        )
        .await
        .unwrap();
        let request: AzureAccountRequest = serde_json::from_value(serde_json::json!({
            "cloudAccount": {"accountId": "5ab50000-0000-4000-8000-000000000001", "accountType": "account",
                             "name": "kept", "groupIds": ["00000000-0000-4000-8000-00000000d0a9"]},
            "clientId": "c11e0000-0000-4000-8000-000000000001", "key": "SNAPSHOT-CANARY-SECRET",
            "tenantId": "7e4a0000-0000-4000-8000-000000000001", "environmentType": "azure",
            "servicePrincipalId": "5e000000-0000-4000-8000-000000000001"
        }))
        .unwrap();
        {
            let mut store = emu.state.store();
            let checks = evaluate(&request, &Default::default());
            store.accounts.insert(
                "5ab50000-0000-4000-8000-000000000001".into(),
                AccountRecord {
                    account_id: "5ab50000-0000-4000-8000-000000000001".into(),
                    name: "kept".into(),
                    account_type: "account".into(),
                    request,
                    enabled: true,
                    parent_account_id: None,
                    group_ids: vec!["00000000-0000-4000-8000-00000000d0a9".into()],
                    created_ms: 1,
                    modified_ms: 2,
                    modified_by: "ak".into(),
                    readable_at: Instant::now(),
                    checks,
                },
            );
        }
        let dir = std::env::temp_dir().join(format!("emu-snap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sandbox.json");
        save(&emu.state, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("SNAPSHOT-CANARY-SECRET"),
            "a key was written"
        );
        assert!(text.contains("kept"));

        let fresh = EmulatorState::new(EmulatorConfig::new("ak", SecretString::from("sk")));
        assert!(load(&fresh, &path).unwrap());
        let store = fresh.store();
        let account = &store.accounts["5ab50000-0000-4000-8000-000000000001"];
        assert_eq!(account.name, "kept");
        assert_eq!(account.request.key.expose(), SecretString::masked());
        assert_eq!(store.groups.values().next().unwrap().account_ids.len(), 1);
        drop(store);
        assert!(!load(&fresh, &dir.join("missing.json")).unwrap());
        std::fs::remove_dir_all(&dir).ok();
        stop.cancel();
    }
}
