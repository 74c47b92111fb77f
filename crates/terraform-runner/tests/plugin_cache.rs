//! The shared provider cache with the real terraform binary: providers come from a local
//! filesystem mirror (a stand-in provider: `init` installs and hashes it but never runs it), so
//! the test needs no registry and counts installs through the cache directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use terraform_runner::plugin_cache::{self, LOCK_FILE_NAME};
use terraform_runner::runner::{RunError, RunnerConfig, TerraformRunner};
use tokio_util::sync::CancellationToken;

const PROVIDER_DIR: &str = "registry.terraform.io/example/fake/1.0.0/linux_amd64";
const PROVIDER_FILE: &str = "terraform-provider-fake_v1.0.0";
const CONFIG: &str =
    r#"{"terraform":{"required_providers":{"fake":{"source":"example/fake","version":"1.0.0"}}}}"#;

fn terraform() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("terraform"))
        .find(|p| p.is_file())
        .expect("terraform on PATH (the project's machines have it)")
}

/// A filesystem mirror with one provider build and a CLI configuration that uses only it.
fn mirror(root: &Path) -> PathBuf {
    let dir = root.join("mirror").join(PROVIDER_DIR);
    std::fs::create_dir_all(&dir).unwrap();
    let binary = dir.join(PROVIDER_FILE);
    std::fs::write(
        &binary,
        "#!/bin/sh\necho 'not a real provider' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let rc = root.join("cli.tfrc");
    std::fs::write(
        &rc,
        format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n  }}\n}}\n",
            root.join("mirror").display()
        ),
    )
    .unwrap();
    rc
}

fn workspace_runner(root: &Path, name: &str, cache: &Path, rc: &Path) -> TerraformRunner {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.tf.json"), CONFIG).unwrap();
    let mut cfg = RunnerConfig::new(terraform(), &dir);
    cfg.plugin_cache = Some(cache.to_path_buf());
    cfg.env
        .push(("TF_CLI_CONFIG_FILE".into(), rc.display().to_string().into()));
    TerraformRunner::new(cfg)
}

/// `version/platform` of every build of the provider installed in the cache (terraform
/// installs a build as a directory, or as a link to an unpacked mirror's directory).
fn installed_builds(cache: &Path) -> Vec<String> {
    let provider = cache.join("registry.terraform.io/example/fake");
    let mut builds = Vec::new();
    for version in std::fs::read_dir(&provider).into_iter().flatten().flatten() {
        for platform in std::fs::read_dir(version.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            builds.push(format!(
                "{}/{}",
                version.file_name().to_string_lossy(),
                platform.file_name().to_string_lossy()
            ));
        }
    }
    builds
}

/// Provider binaries held by `under` itself (links are not followed).
fn provider_binaries(under: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![under.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() && entry.file_name() == PROVIDER_FILE {
                found.push(entry.path());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_inits_install_each_provider_once_and_workspaces_keep_none() {
    let root = tempfile::tempdir().unwrap();
    let rc = mirror(root.path());
    let cache = root.path().join("cache");
    let cancel = CancellationToken::new();
    let runners: Vec<_> = (0..4)
        .map(|i| workspace_runner(root.path(), &format!("w{i}"), &cache, &rc))
        .collect();
    // Four inits at once: the cache lock serialises them, and every one succeeds.
    let inits = runners.iter().map(|tf| {
        let cancel = cancel.clone();
        async move { tf.init(&cancel, &mut |_| {}).await }
    });
    for outcome in futures::future::join_all(inits).await {
        outcome.expect("init with the shared cache");
    }
    assert_eq!(
        installed_builds(&cache),
        ["1.0.0/linux_amd64"],
        "one install per build"
    );
    for i in 0..4 {
        let workspace = root.path().join(format!("w{i}"));
        assert!(
            provider_binaries(&workspace).is_empty(),
            "w{i} links the cached build instead of holding a copy"
        );
        let link = workspace.join(".terraform/providers").join(PROVIDER_DIR);
        let target = std::fs::read_link(&link).expect("a link into the cache");
        assert!(
            target.starts_with(&cache),
            "{} -> {}",
            link.display(),
            target.display()
        );
    }

    // The first workspace's lock file is recorded once and seeds a new workspace.
    let w0 = root.path().join("w0");
    assert!(plugin_cache::record_lock_file(&cache, "fake", &w0).unwrap());
    assert!(!plugin_cache::record_lock_file(&cache, "fake", &root.path().join("w1")).unwrap());
    let fresh = workspace_runner(root.path(), "w-fresh", &cache, &rc);
    let fresh_dir = root.path().join("w-fresh");
    assert!(plugin_cache::seed_lock_file(&cache, "fake", &fresh_dir).unwrap());
    let seeded = std::fs::read_to_string(fresh_dir.join(LOCK_FILE_NAME)).unwrap();
    assert!(
        seeded.contains("example/fake") && seeded.contains("h1:"),
        "{seeded}"
    );
    fresh
        .init(&cancel, &mut |_| {})
        .await
        .expect("init from the recorded lock file");
    assert_eq!(
        installed_builds(&cache),
        ["1.0.0/linux_amd64"],
        "still one install"
    );

    // A finished workspace keeps no provider, not even the links.
    let freed = plugin_cache::remove_installed_providers(&w0).unwrap();
    assert!(
        freed > 0,
        "the links and the modules manifest took some bytes"
    );
    assert!(!w0.join(".terraform").exists());
    assert!(
        w0.join(LOCK_FILE_NAME).exists(),
        "the lock file stays with the configuration"
    );
    assert_eq!(
        installed_builds(&cache),
        ["1.0.0/linux_amd64"],
        "the cache keeps its build"
    );
}

#[tokio::test]
async fn an_init_waiting_for_the_cache_lock_can_be_cancelled() {
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let cancel = CancellationToken::new();
    let held = plugin_cache::lock(&cache, &cancel).await.unwrap();
    let waiting = CancellationToken::new();
    let stop = waiting.clone();
    let wait = tokio::spawn({
        let cache = cache.clone();
        async move { plugin_cache::lock(&cache, &waiting).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !wait.is_finished(),
        "the second lock waits while the first is held"
    );
    stop.cancel();
    let err = wait.await.unwrap().unwrap_err();
    assert!(matches!(err, RunError::Cancelled { .. }), "{err}");
    drop(held);
    // Released: the next one gets it at once.
    plugin_cache::lock(&cache, &cancel).await.unwrap();
}
