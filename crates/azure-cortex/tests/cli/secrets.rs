//! The Azure client secret never shows: not on stdout or stderr at `-vv`, not in any file of
//! the data directory.

use prisma_types::testing::{contains_bytes, files_under};

use crate::common::*;

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
            !contains_bytes(&out.stdout, canary.as_bytes()),
            "canary on stdout ({output})"
        );
        assert!(
            !contains_bytes(&out.stderr, canary.as_bytes()),
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
    assert!(
        !contains_bytes(&out.stdout, canary.as_bytes())
            && !contains_bytes(&out.stderr, canary.as_bytes())
    );

    let found = files_under(sb.data_dir());
    assert!(
        found.len() >= 3,
        "the data dir has the store, key and sandbox: {:?}",
        found.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    for (path, bytes) in found {
        assert!(
            !contains_bytes(&bytes, canary.as_bytes()),
            "canary in {}",
            path.display()
        );
    }
}
