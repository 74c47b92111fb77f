//! One provider plugin cache for every workspace on a machine, and one dependency lock per
//! configuration.
//!
//! Without it every job's `terraform init` downloads azurerm and azuread again (hundreds of
//! megabytes each) into its own `.terraform/`. With `TF_PLUGIN_CACHE_DIR` terraform installs each
//! provider build once into the cache and links it into each workspace. Two rules come with it:
//!
//! * **One `init` at a time per cache.** Terraform does not lock the cache: two inits
//!   installing the same provider at once can leave a partial binary. [`lock`] takes an
//!   exclusive file lock (`.azure-cortex-init.lock` in the cache), across processes too;
//!   `plan` and `apply` only read the cache and run in parallel.
//! * **The same builds everywhere.** A workspace whose `.terraform.lock.hcl` is missing lets
//!   `init` pick the newest allowed version, so two jobs could run different providers. The
//!   first successful init of a configuration records its lock file in the cache
//!   ([`record_lock_file`]); later workspaces of the same configuration start from it
//!   ([`seed_lock_file`]), so they install exactly those builds, checked against the recorded
//!   hashes. A configuration is identified by its required providers (the caller's `key`).
//!
//! After a successful run the workspace's `.terraform/` (links into the cache, module copies)
//! is removed ([`remove_installed_providers`]); a later run (rotation, offboarding) links them
//! again in milliseconds.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::runner::{Phase, RunError};

/// The lock file inside the cache directory.
pub const INIT_LOCK_FILE: &str = ".azure-cortex-init.lock";
/// Where recorded dependency lock files live inside the cache directory.
pub const LOCKS_DIR: &str = "dependency-locks";
/// Terraform's dependency lock file in a workspace.
pub const LOCK_FILE_NAME: &str = ".terraform.lock.hcl";

/// How often a waiting init checks the lock again (and its cancel token).
const LOCK_POLL: Duration = Duration::from_millis(100);

/// Held while an `init` installs into the cache; the lock is released on drop.
#[derive(Debug)]
pub struct CacheLock {
    _file: File,
}

/// Creates the cache (mode 0700) if needed and waits for its init lock. Cancelling the token
/// while waiting gives up with [`RunError::Cancelled`].
pub async fn lock(cache: &Path, cancel: &CancellationToken) -> Result<CacheLock, RunError> {
    create_private_dir(cache)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(cache.join(INIT_LOCK_FILE))?;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(CacheLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => return Err(RunError::Io(e)),
        }
        tokio::select! {
            () = cancel.cancelled() => return Err(RunError::Cancelled { phase: Phase::Init }),
            () = tokio::time::sleep(LOCK_POLL) => {}
        }
    }
}

/// The recorded lock file of the configuration identified by `key` (its required providers).
pub fn recorded_lock_file(cache: &Path, key: &str) -> PathBuf {
    cache
        .join(LOCKS_DIR)
        .join(format!("{key}.terraform.lock.hcl"))
}

/// Copies the recorded lock file of `key` into `workdir` before `init`, unless the workspace
/// has one already (a resumed job keeps its own). Returns whether one was copied.
pub fn seed_lock_file(cache: &Path, key: &str, workdir: &Path) -> io::Result<bool> {
    let recorded = recorded_lock_file(cache, key);
    let target = workdir.join(LOCK_FILE_NAME);
    if target.exists() || !recorded.exists() {
        return Ok(false);
    }
    fs::copy(&recorded, &target)?;
    Ok(true)
}

/// After a successful `init`: records the workspace's lock file for `key` if none is recorded
/// yet (written to a temporary file and renamed, so a reader never sees half a file).
pub fn record_lock_file(cache: &Path, key: &str, workdir: &Path) -> io::Result<bool> {
    let written = workdir.join(LOCK_FILE_NAME);
    let recorded = recorded_lock_file(cache, key);
    if recorded.exists() || !written.exists() {
        return Ok(false);
    }
    let dir = cache.join(LOCKS_DIR);
    create_private_dir(&dir)?;
    let tmp = dir.join(format!(".{key}.{}.tmp", std::process::id()));
    fs::copy(&written, &tmp)?;
    fs::rename(&tmp, &recorded)?;
    Ok(true)
}

/// Removes `<workdir>/.terraform` (provider links or copies, modules); returns the bytes it
/// held, links not followed.
pub fn remove_installed_providers(workdir: &Path) -> io::Result<u64> {
    let dir = workdir.join(".terraform");
    if !dir.exists() {
        return Ok(0);
    }
    let bytes = disk_usage(&dir)?;
    fs::remove_dir_all(&dir)?;
    Ok(bytes)
}

/// Bytes of the regular files under `path` (symbolic links count as themselves, not as what
/// they point to).
pub fn disk_usage(path: &Path) -> io::Result<u64> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for entry in fs::read_dir(path)? {
        total += disk_usage(&entry?.path())?;
    }
    Ok(total)
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
