//! What the benchmark binaries share: their flags, child processes, rounding, percentiles and
//! a process's memory.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;

use anyhow::{Context, bail};

pub mod common;
pub mod ideal;

/// The command line: `--name value` options and `--name` switches, anywhere.
pub struct Args(Vec<String>);

impl Args {
    pub fn from_env() -> Self {
        Self(std::env::args().collect())
    }

    /// The value after `name`, if `name` is given.
    pub fn value(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.0.get(i + 1))
            .cloned()
    }

    /// The value after `name` parsed, or `default` when `name` is not given.
    pub fn parsed<T>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T: FromStr,
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        match self.value(name) {
            Some(v) => v.parse().with_context(|| format!("{name} {v}")),
            None => Ok(default),
        }
    }

    /// Whether the switch `name` is given.
    pub fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
}

/// The least time an endpoint's token bucket (burst = rate, as every bench sets the emulator)
/// allows for `admitted` calls: `(admitted − burst) / rate`, the burst being free. Every bench's
/// bound, and the ideal client's, is the max of this over the paced endpoints.
pub fn endpoint_bound_s(admitted: u64, rate: f64) -> f64 {
    (admitted as f64 - rate).max(0.0) / rate
}

/// Three decimals, for the JSON lines.
pub fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A child process that is killed (and reaped) when dropped.
pub struct Process {
    child: Child,
}

impl Process {
    /// Starts `cmd` with its stdout piped and returns it with the first line it printed (its
    /// announcement: address, credentials); a thread drains the rest so the child never blocks
    /// on a full pipe.
    pub fn spawn_announcing(cmd: &mut Command) -> anyhow::Result<(Self, String)> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {:?}", cmd.get_program()))?;
        let stdout = child.stdout.take().context("child stdout")?;
        let process = Self { child };
        let mut lines = BufReader::new(stdout).lines();
        let first = match lines.next() {
            Some(line) => line.context("reading the child's stdout")?,
            None => bail!("{:?} printed nothing", cmd.get_program()),
        };
        std::thread::spawn(move || for _ in lines {});
        Ok((process, first))
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process's resident set (`VmRSS` of `/proc/<pid>/status`) in KiB; `None` once it is gone
/// (or off Linux).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A process's CPU time (user + system, `/proc/<pid>/stat`) in seconds, at the kernel's
/// 100 Hz tick resolution.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses; utime and stime
    // are the 14th and 15th fields, the 12th and 13th after it.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// The `p`-th percentile (0–100, nearest rank) of `sorted` (ascending); 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 95.0), 95.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn this_process_has_memory_and_cpu() {
        let pid = std::process::id();
        assert!(rss_kib(pid).unwrap() > 0);
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
    }
}
