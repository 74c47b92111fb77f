//! Golden files: the generated `main.tf.json` of each case must equal
//! `tests/golden/<case>.json` (builtin) and `tests/golden/<case>.twin.json` (twin, 1 s steps).
//!
//! After an intended change, regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p azure-config --test golden` and review the diff.

mod common;

use std::path::PathBuf;

use azure_config::{builtin, twin};
use serde_json::Value;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("serializable");
    s.push('\n');
    s
}

/// Compares `actual` with the golden file, or writes it when `UPDATE_GOLDEN=1`. Returns a
/// description of the mismatch, if any.
fn check(file: &str, actual: &Value) -> Option<String> {
    let path = golden_dir().join(file);
    let actual = pretty(actual);
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(golden_dir()).expect("create golden dir");
        std::fs::write(&path, &actual).expect("write golden file");
        return None;
    }
    let expected = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => {
            return Some(format!(
                "{}: cannot read ({e}); create it with UPDATE_GOLDEN=1 cargo test -p \
                 azure-config --test golden",
                path.display()
            ));
        }
    };
    if expected == actual {
        return None;
    }
    let line = expected
        .lines()
        .zip(actual.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
    Some(format!(
        "{} differs from the generated configuration at line {}:\n  golden:    {:?}\n  generated: \
         {:?}\nIf the change is intended, run UPDATE_GOLDEN=1 cargo test -p azure-config --test \
         golden and review `git diff {}`.",
        path.display(),
        line + 1,
        expected.lines().nth(line).unwrap_or("<end of file>"),
        actual.lines().nth(line).unwrap_or("<end of file>"),
        path.display(),
    ))
}

#[test]
fn builtin_and_twin_match_the_golden_files() {
    let mut failures = Vec::new();
    for (stem, input) in common::golden_cases() {
        let b = builtin::generate(&input).unwrap_or_else(|e| panic!("{stem}: {e}"));
        failures.extend(check(&format!("{stem}.json"), &b.main_tf_json));
        let t = twin::generate(&input, 1.0).unwrap_or_else(|e| panic!("{stem}: {e}"));
        failures.extend(check(&format!("{stem}.twin.json"), &t.main_tf_json));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every golden file belongs to a case (a renamed case must not leave a stale file behind).
#[test]
fn no_stale_golden_files() {
    let cases: Vec<String> = common::golden_cases()
        .into_iter()
        .flat_map(|(stem, _)| [format!("{stem}.json"), format!("{stem}.twin.json")])
        .collect();
    let Ok(dir) = std::fs::read_dir(golden_dir()) else {
        return;
    };
    for entry in dir {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(cases.contains(&name), "stale golden file {name}");
    }
}
