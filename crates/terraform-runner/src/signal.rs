//! Sending signals to terraform without `libc` or `nix`: the workspace forbids `unsafe`, and
//! tokio only offers SIGKILL (`Child::start_kill`). We run the `kill(1)` utility instead (procps
//! or busybox; present on every Linux image we target, and on macOS). If it is missing, the
//! interrupt is lost and the runner falls back to SIGKILL after the grace period.
//!
//! * SIGINT goes to terraform's pid only, as a terminal's Ctrl-C would reach it: terraform then
//!   stops gracefully, cancels provisioners and providers, writes state and releases its lock.
//! * SIGKILL goes to the whole process group (terraform is spawned as the leader of its own
//!   group), so provider plugins and `local-exec` children do not outlive a killed terraform.

use std::process::Stdio;

async fn kill(args: &[&str]) -> bool {
    let status = tokio::process::Command::new("kill")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
    match status {
        Ok(s) => s.success(),
        Err(e) => {
            tracing::warn!(error = %e, "could not run kill(1)");
            false
        }
    }
}

/// SIGINT to one process. Returns whether `kill` reported success.
pub(crate) async fn interrupt(pid: u32) -> bool {
    kill(&["-INT", &pid.to_string()]).await
}

/// SIGKILL to every process of a group. Fails harmlessly when the group is already empty.
pub(crate) async fn kill_group(pgid: u32) -> bool {
    kill(&["-KILL", "--", &format!("-{pgid}")]).await
}
