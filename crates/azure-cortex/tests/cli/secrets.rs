//! The Azure client secret never shows: not on stdout or stderr at `-vv`, not in any file of
//! the data directory.

use std::path::Path;

use crate::common::*;

fn files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, found);
        } else {
            found.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_client_secret_reaches_no_output_and_no_file() {
    let canary = format!("CANARY-CLI-SECRET-{}", std::process::id());
    let sb = Sandbox::new();
    let id = sub(40, 1);
    for output in ["human", "json"] {
        let out = sb
            .cmd()
            .args(["-vv", "--output", output, "onboard", "subscription", &id])
            .args(["--tenant", TENANT, "--name", "canary"])
            .args(["--identity", "existing", "--client-id", CLIENT_ID])
            .args(["--sp-object-id", SP_OBJECT_ID])
            .env("AZURE_CLIENT_SECRET", &canary)
            .assert()
            .code(0)
            .get_output()
            .clone();
        assert!(!out.stderr.is_empty(), "-vv logs something");
        assert!(
            !contains(&out.stdout, canary.as_bytes()),
            "canary on stdout ({output})"
        );
        assert!(
            !contains(&out.stderr, canary.as_bytes()),
            "canary on stderr ({output})"
        );
    }
    // The secret from a file (outside the data directory) behaves the same.
    let secret_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret_file.path(), format!("{canary}\n")).unwrap();
    let out = sb
        .cmd()
        .args(["-vv", "onboard", "subscription", &sub(40, 2)])
        .args(["--tenant", TENANT, "--name", "canary-file"])
        .args(["--identity", "existing", "--client-id", CLIENT_ID])
        .args(["--sp-object-id", SP_OBJECT_ID, "--client-secret-file"])
        .arg(secret_file.path())
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert!(!contains(&out.stdout, canary.as_bytes()) && !contains(&out.stderr, canary.as_bytes()));

    let mut found = Vec::new();
    files(sb.data_dir(), &mut found);
    assert!(
        found.len() >= 3,
        "the data dir has the store, key and sandbox: {found:?}"
    );
    for path in found {
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !contains(&bytes, canary.as_bytes()),
            "canary in {}",
            path.display()
        );
    }
}
