//! What a package ships besides the binary: `--version` with the commit, shell completions and
//! man pages generated from the real parser.

use std::process::{Command, Stdio};

use predicates::prelude::*;

use crate::common::*;

#[test]
fn version_names_the_commit_and_the_build_date() {
    let out = Sandbox::new().cmd().arg("--version").assert().success();
    let line = text(&out.get_output().stdout);
    assert!(
        is_version_line(&line),
        "--version should read `azure-cortex X.Y.Z (commit HEX, built YYYY-MM-DD)`: {line}"
    );
    // The commit is this checkout's HEAD when the tests run from one.
    if let Ok(head) = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        && head.status.success()
    {
        let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
        assert!(line.contains(&head), "{line} should name HEAD {head}");
    }
}

/// `azure-cortex 0.1.0 (commit 0123456789ab, built 2026-12-01)`, or `commit unknown`.
fn is_version_line(line: &str) -> bool {
    let Some(rest) = line.trim().strip_prefix("azure-cortex ") else {
        return false;
    };
    let Some((version, rest)) = rest.split_once(" (commit ") else {
        return false;
    };
    let Some((commit, rest)) = rest.split_once(", built ") else {
        return false;
    };
    let Some(date) = rest.strip_suffix(')') else {
        return false;
    };
    let semver =
        version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok());
    let commit_ok = commit == "unknown"
        || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit()));
    let date_ok = date.len() == 10
        && date.chars().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    semver && commit_ok && date_ok
}

#[test]
fn bash_completions_parse_and_know_the_commands() {
    let out = Sandbox::new()
        .cmd()
        .args(["completions", "bash"])
        .assert()
        .success();
    let script = text(&out.get_output().stdout);
    for word in [
        "onboard",
        "batch",
        "accounts",
        "--sandbox",
        "--data-dir",
        "completions",
    ] {
        assert!(script.contains(word), "bash completions lack {word}");
    }
    let mut bash = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .spawn()
        .expect("bash runs");
    use std::io::Write;
    bash.stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(
        bash.wait().unwrap().success(),
        "bash -n refused the completion script"
    );
}

#[test]
fn every_shell_gets_completions_and_an_unknown_one_is_usage() {
    for (shell, marker) in [
        ("zsh", "#compdef azure-cortex"),
        ("fish", "complete -c azure-cortex"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[azure-cortex]"),
    ] {
        Sandbox::new()
            .cmd()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains(marker));
    }
    Sandbox::new()
        .cmd()
        .args(["completions", "tcsh"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("possible values"));
}

#[test]
fn man_pages_cover_every_subcommand() {
    let sb = Sandbox::new();
    let dir = sb.data_dir().join("man");
    sb.cmd()
        .args(["manpage", "--out"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(predicate::str::contains("man pages"));
    for page in [
        "azure-cortex.1",
        "azure-cortex-onboard.1",
        "azure-cortex-onboard-batch.1",
        "azure-cortex-accounts-offboard.1",
        "azure-cortex-jobs-approve.1",
        "azure-cortex-serve.1",
        "azure-cortex-users-add.1",
    ] {
        let roff =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(
            roff.starts_with(".ie") || roff.contains(".TH"),
            "{page} is not a man page"
        );
    }
    let batch = std::fs::read_to_string(dir.join("azure-cortex-onboard-batch.1")).unwrap();
    assert!(
        batch.contains("tenant") && batch.contains("FILE.csv"),
        "the batch page documents its flags"
    );
    // The top page on standard output is the same document as the file.
    let out = sb.cmd().arg("manpage").assert().success();
    assert_eq!(
        text(&out.get_output().stdout),
        std::fs::read_to_string(dir.join("azure-cortex.1")).unwrap()
    );
}
