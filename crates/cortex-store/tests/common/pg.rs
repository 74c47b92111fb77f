//! A throwaway PostgreSQL cluster for the tests, started by the tests themselves.
//!
//! * Binaries: `$CORTEX_TEST_PG_BIN` if set, else the first directory on `PATH`, then
//!   `/usr/local/bin`, then the newest `/usr/lib/postgresql/<version>/bin`, that holds both
//!   `initdb` and `pg_ctl`. None found is a test failure, never a skip.
//! * User: `initdb` and `postgres` refuse to run as root. When the tests run as root (CI), the
//!   binaries run as the existing unprivileged user `nobody` through `runuser -u nobody --`, and
//!   the cluster directory is chowned to it; otherwise they run as the current user.
//! * Layout: `$TMPDIR/cortex-store-pg-<key>/` (under `/tmp` when running as root; mode 0700)
//!   holds `data/` (initdb, `-A trust`, superuser `postgres`), `postgres.log`, and the unix
//!   socket. The server listens on no TCP address at all (`listen_addresses = ''`); the port,
//!   picked free on 127.0.0.1, only names the socket. fsync, synchronous_commit and full_page_writes are off: the data is throwaway.
//! * Sharing: one cluster per test binary run. Under `cargo test` the key is the test process'
//!   pid and a `OnceLock` shares the cluster between its tests. Under cargo-nextest (one process
//!   per test) the key is `NEXTEST_RUN_ID`: the first test process starts the cluster under an
//!   exclusive lock on `$TMPDIR/cortex-store-pg-<key>.lock`, the others join it.
//! * Each test gets its own database (`CREATE DATABASE t_<test>_<pid>_<n>`).
//! * Cleanup: a small `sh` watcher, started before `initdb`, polls the process that owns the
//!   run (the test binary, or nextest) every 0.5 s; once it is gone the watcher stops the
//!   server (`pg_ctl stop -m immediate`) and removes the directory and the lock file.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use sqlx::Connection;

pub struct Cluster {
    dir: PathBuf,
    port: u16,
    /// The cleanup watcher, when this process started the cluster (kept, never waited for).
    _watcher: Mutex<Option<Child>>,
}

impl Cluster {
    /// A plain-SQL dump of `database` (as `pg_dump` writes it), for tests that must prove
    /// what is, and is not, stored in plaintext. (Used by other crates' tests through the
    /// `testing` feature; this crate's own tests query tables directly.)
    #[allow(dead_code)]
    pub fn dump(&self, database: &str) -> Result<String, String> {
        // pg_dump comes with the client package: beside initdb, or from the versioned
        // server directory, or on PATH.
        let bin = find_bin_dir()?;
        let pg_dump = std::iter::once(bin.join("pg_dump"))
            .chain(
                fs::read_dir("/usr/lib/postgresql")
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|d| d.path().join("bin/pg_dump")),
            )
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("pg_dump"));
        let out = Command::new(pg_dump)
            .args(["--no-owner", "--host"])
            .arg(&self.dir)
            .args([
                "--port",
                &self.port.to_string(),
                "--username",
                "postgres",
                database,
            ])
            .output()
            .map_err(|e| format!("pg_dump: {e}"))?;
        if !out.status.success() {
            return Err(format!("pg_dump: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@localhost/{database}?host={}&port={}",
            self.dir.display(),
            self.port
        )
    }
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// The shared cluster, started on first use. Panics (fails the test) if it cannot start.
pub fn cluster() -> &'static Cluster {
    match CLUSTER.get_or_init(start_or_join) {
        Ok(cluster) => cluster,
        Err(message) => panic!(
            "the PostgreSQL test cluster could not be started (these tests never skip): {message}"
        ),
    }
}

/// A new, empty database on the shared cluster; returns its URL.
pub async fn fresh_database(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let cluster = tokio::task::spawn_blocking(cluster)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let slug: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let name = format!(
        "t_{slug}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut conn = sqlx::PgConnection::connect(&cluster.url("postgres"))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "connect to the test cluster at {}: {e}",
                cluster.dir.display()
            )
        });
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    conn.close().await.ok();
    cluster.url(&name)
}

struct RunAs {
    name: String,
    uid: u32,
    gid: u32,
}

fn start_or_join() -> Result<Cluster, String> {
    let started = Instant::now();
    let bin = find_bin_dir()?;
    let run_as = run_as()?;
    let (key, watch_pid) = match std::env::var("NEXTEST_RUN_ID") {
        Ok(run) if !run.is_empty() => (
            format!("nx-{}", sanitize(&run)),
            std::os::unix::process::parent_id(),
        ),
        _ => (format!("p{}", std::process::id()), std::process::id()),
    };
    // `nobody` must reach the cluster directory: a root-only $TMPDIR would not do.
    let tmp = if run_as.is_some() {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    let dir = tmp.join(format!("cortex-store-pg-{key}"));
    let lock_path = tmp.join(format!("cortex-store-pg-{key}.lock"));

    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("open {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("lock {}: {e}", lock_path.display()))?;

    let ready = dir.join("ready");
    if let Ok(port) = fs::read_to_string(&ready) {
        let port = port
            .trim()
            .parse()
            .map_err(|e| format!("{}: {e}", ready.display()))?;
        eprintln!(
            "postgres test cluster: joined {} (port {port})",
            dir.display()
        );
        return Ok(Cluster {
            dir,
            port,
            _watcher: Mutex::new(None),
        });
    }
    if dir.exists() {
        // Left over by a crashed start of this very run: stop whatever runs there, start again.
        let _ = run(
            &bin,
            "pg_ctl",
            run_as.as_ref(),
            &dir,
            &[
                "-D",
                &dir.join("data").to_string_lossy(),
                "-m",
                "immediate",
                "stop",
            ],
        );
        fs::remove_dir_all(&dir).map_err(|e| format!("remove {}: {e}", dir.display()))?;
    }
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("create {}: {e}", dir.display()))?;
    if let Some(user) = &run_as {
        std::os::unix::fs::chown(&dir, Some(user.uid), Some(user.gid))
            .map_err(|e| format!("chown {} to {}: {e}", dir.display(), user.name))?;
    }

    // The watcher comes first, so that even a failed start is cleaned up.
    let watcher = Command::new("sh")
        .arg("-c")
        .arg(
            r#"while kill -0 "$0" 2>/dev/null; do sleep 0.5; done
if [ -n "$4" ]; then
  runuser -u "$4" -- "$3" -D "$1/data" -m immediate stop
else
  "$3" -D "$1/data" -m immediate stop
fi
rm -rf "$1" "$2""#,
        )
        .arg(watch_pid.to_string())
        .arg(&dir)
        .arg(&lock_path)
        .arg(bin.join("pg_ctl"))
        .arg(run_as.as_ref().map_or("", |u| u.name.as_str()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("start the cleanup watcher: {e}"))?;

    let data = dir.join("data");
    let data_arg = data.to_string_lossy().into_owned();
    run(
        &bin,
        "initdb",
        run_as.as_ref(),
        &dir,
        &[
            "-D",
            &data_arg,
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ],
    )?;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("pick a free port: {e}"))?
        .port();
    let conf = data.join("postgresql.conf");
    let mut file = OpenOptions::new()
        .append(true)
        .open(&conf)
        .map_err(|e| format!("open {}: {e}", conf.display()))?;
    write!(
        file,
        "\n# cortex-store tests\n\
         listen_addresses = ''\n\
         port = {port}\n\
         unix_socket_directories = '{}'\n\
         max_connections = 300\n\
         fsync = off\n\
         synchronous_commit = off\n\
         full_page_writes = off\n",
        dir.display()
    )
    .map_err(|e| format!("write {}: {e}", conf.display()))?;
    drop(file);

    let log = dir.join("postgres.log");
    let log_arg = log.to_string_lossy().into_owned();
    if let Err(e) = run(
        &bin,
        "pg_ctl",
        run_as.as_ref(),
        &dir,
        &["-D", &data_arg, "-l", &log_arg, "-w", "-t", "60", "start"],
    ) {
        let tail = fs::read_to_string(&log).unwrap_or_default();
        return Err(format!("{e}\n--- postgres.log ---\n{tail}"));
    }
    fs::write(&ready, format!("{port}\n"))
        .map_err(|e| format!("write {}: {e}", ready.display()))?;
    fs::set_permissions(&ready, fs::Permissions::from_mode(0o644)).ok();
    eprintln!(
        "postgres test cluster: started {} (port {port}, as {}) in {:?}",
        dir.display(),
        run_as
            .as_ref()
            .map_or("the current user", |u| u.name.as_str()),
        started.elapsed()
    );
    Ok(Cluster {
        dir,
        port,
        _watcher: Mutex::new(Some(watcher)),
    })
}

fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40)
        .collect()
}

/// Runs a PostgreSQL binary (as the unprivileged user, if any) and fails with its output.
fn run(
    bin: &Path,
    program: &str,
    user: Option<&RunAs>,
    cwd: &Path,
    args: &[&str],
) -> Result<(), String> {
    let program_path = bin.join(program);
    let mut command = match user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", &user.name, "--"]).arg(&program_path);
            c
        }
        None => Command::new(&program_path),
    };
    let output = command
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .process_group(0)
        .output()
        .map_err(|e| format!("run {}: {e}", program_path.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {} failed ({}):\n{}{}",
            program_path.display(),
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn find_bin_dir() -> Result<PathBuf, String> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("CORTEX_TEST_PG_BIN") {
        let dir = PathBuf::from(dir);
        return if has_both(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "CORTEX_TEST_PG_BIN={} holds no initdb and pg_ctl",
                dir.display()
            ))
        };
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    candidates.push("/usr/local/bin".into());
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    candidates.extend(versions.into_iter().rev().map(|(_, dir)| dir));
    candidates
        .into_iter()
        .find(|dir| has_both(dir))
        .ok_or_else(|| {
            "PostgreSQL server binaries (initdb and pg_ctl) were not found on PATH, in \
         /usr/local/bin or in /usr/lib/postgresql/*/bin. Install them (Debian: \
         `apt-get install postgresql`) or point CORTEX_TEST_PG_BIN at their directory."
                .to_owned()
        })
}

/// `Some(nobody)` when this process runs as root (initdb refuses root), else `None`.
fn run_as() -> Result<Option<RunAs>, String> {
    let status = fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("read /proc/self/status: {e}"))?;
    let euid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .ok_or("no Uid line in /proc/self/status")?;
    if euid != "0" {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").map_err(|e| format!("read /etc/passwd: {e}"))?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.len() > 3 && fields[0] == "nobody")
        .and_then(|fields| {
            Some(RunAs {
                name: "nobody".to_owned(),
                uid: fields[2].parse().ok()?,
                gid: fields[3].parse().ok()?,
            })
        })
        .map(Some)
        .ok_or_else(|| {
            "running as root, and there is no user `nobody` to run initdb and postgres as"
                .to_owned()
        })
}
