//! A sandbox for one CLI test: a temp data directory and the real binary with `--sandbox`.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

pub const TENANT: &str = "7e4a0000-aaaa-4bbb-8ccc-000000000001";
pub const CLIENT_ID: &str = "c11e0000-0000-4000-8000-000000000001";
pub const SP_OBJECT_ID: &str = "5e000000-0000-4000-8000-000000000001";

/// A subscription ID no emulator scenario matches (`5ab5…`), unique per `test` and `n`.
pub fn sub(test: u16, n: u32) -> String {
    format!("5ab5{test:04x}-0000-4000-8000-{n:012x}")
}

pub struct Sandbox {
    pub dir: TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `azure-cortex --sandbox --data-dir DIR` with a fast Terraform twin and a clean
    /// environment (no colours, no inherited secrets or Prisma settings).
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut c = assert_cmd::Command::new(env!("CARGO_BIN_EXE_azure-cortex"));
        c.arg("--sandbox")
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(["--sandbox-step-secs", "0.02"])
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env_remove("AZURE_CLIENT_SECRET")
            .env_remove("AZURE_CORTEX_DATA_DIR")
            .env_remove("AZURE_CORTEX_DATABASE_URL")
            .env_remove("PRISMA_API_URL")
            .env_remove("PRISMACLOUD_URL")
            .timeout(Duration::from_secs(150));
        c
    }

    /// The JSON of `accounts list --output json`.
    pub fn accounts(&self) -> Vec<Value> {
        let out = self
            .cmd()
            .args(["accounts", "list", "--output", "json"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice::<Value>(&out)
            .expect("accounts list prints JSON")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every stdout line as JSON (each line must be one document).
pub fn json_lines(stdout: &[u8]) -> Vec<Value> {
    text(stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

pub fn validator(schema: &str) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(schema).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

pub fn assert_valid(validator: &jsonschema::Validator, value: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{value}\ndoes not match the schema: {errors:#?}"
    );
}

/// Checks a `--output json` run of one job: every line but the last is an event line (valid,
/// gapless from `first_seq`), the last a result; returns the result.
pub fn check_job_stream(stdout: &[u8], first_seq: i64) -> Value {
    check_job_stream_of(stdout, first_seq, cortex_cli::schemas::RESULT)
}

/// [`check_job_stream`] for a result of the schema `result_schema` (a Cortex Cloud job's is
/// `cortex_result`).
pub fn check_job_stream_of(stdout: &[u8], first_seq: i64, result_schema: &str) -> Value {
    let lines = json_lines(stdout);
    let (result, events) = lines.split_last().expect("output has lines");
    let event_schema = validator(cortex_cli::schemas::EVENT);
    for (expected, line) in (first_seq..).zip(events) {
        assert_valid(&event_schema, line);
        assert_eq!(line["seq"], expected, "gapless sequence: {line}");
    }
    assert_valid(&validator(result_schema), result);
    result.clone()
}
