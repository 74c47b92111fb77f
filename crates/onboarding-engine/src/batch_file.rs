//! A batch of subscriptions as a CSV file with a header row — the same file for
//! `azure-cortex onboard batch` and the web UI's bulk page.
//!
//! | column | required | meaning |
//! | --- | --- | --- |
//! | `subscription_id` | yes | the subscription to onboard |
//! | `name` | yes, unless a name template is given (`{subscription_id}` is filled in) | the account name in Prisma Cloud |
//! | `groups` | no (default: the batch's groups, else `Default Account Group`) | account groups, `;`-separated |
//! | `tenant_id` | no (default: the batch's tenant) | the subscription's tenant |
//!
//! Rows are numbered as in a spreadsheet: the header is row 1, so the first subscription is
//! row 2. [`parse_rows`] reads the file; [`validate_rows`] turns each row into a request with
//! the batch's shared options, naming every problem with its row and field, so that nothing
//! starts until the caller has seen them all. [`split_checked`] separates the rows that become
//! jobs from the skipped ones; `Engine::submit_batch_rows` keeps both with the batch (their
//! original row numbers, the skipped rows' problems), and [`report_records`] writes the batch's
//! results as CSV with every row of the file.

use std::collections::HashMap;

use cortex_store::{BatchSourceRow, NewJob, RowProblem};
use prisma_types::SecretString;
use serde::Serialize;

use crate::request::{FieldError, OnboardingRequest, RawRequest};

/// The columns a batch file may have.
pub const COLUMNS: [&str; 4] = ["subscription_id", "name", "groups", "tenant_id"];

/// One data row, as written (validation happens on the request built from it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvRow {
    /// The row number (header = 1).
    pub row: u64,
    pub subscription_id: String,
    pub name: Option<String>,
    pub groups: Vec<String>,
    pub tenant_id: Option<String>,
}

fn field(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// How a front end tells its user to fill a missing value (`--tenant` on the command line,
/// a form field in the web UI); appended to the row's error.
#[derive(Clone, Copy, Debug)]
pub struct Hints {
    pub tenant: &'static str,
    pub name: &'static str,
}

/// What every row of a batch shares; a row's own cells override `tenant_id`, `name` and
/// `groups`. `name` may be a template (`azure-{subscription_id}`).
#[derive(Clone, Debug, Default)]
pub struct BatchDefaults {
    pub request: RawRequest,
    pub hints: Option<Hints>,
    /// How the builtin subscription rows get their identity (default: one shared per tenant,
    /// [`crate::tenant_identity`]).
    pub identity_per: crate::tenant_identity::IdentityPer,
}

/// One row checked: the request it becomes, or every problem with it (fields prefixed with
/// `row N`).
#[derive(Clone, Debug)]
pub struct CheckedRow {
    pub row: CsvRow,
    pub result: Result<OnboardingRequest, Vec<FieldError>>,
}

/// A valid row of a batch file, ready to become a job: its row number, request and secret.
#[derive(Clone, Debug)]
pub struct BatchItem {
    pub row: u64,
    pub request: OnboardingRequest,
    pub secret: Option<SecretString>,
}

/// A row left out of a batch for its problems; kept with the batch (its page, API and CSV
/// report show it) with its original row number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedRow {
    /// The row number (header = 1).
    pub row: u64,
    /// The subscription as written in the row.
    pub subscription_id: String,
    /// The name as written in the row (may be empty).
    pub name: String,
    /// Every problem of the row, fields prefixed with `row N`.
    pub problems: Vec<FieldError>,
}

/// Splits checked rows into the batch's jobs (each with `secret`) and its skipped rows.
pub fn split_checked(
    checked: Vec<CheckedRow>,
    secret: &Option<SecretString>,
) -> (Vec<BatchItem>, Vec<SkippedRow>) {
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    for CheckedRow { row, result } in checked {
        match result {
            Ok(request) => items.push(BatchItem {
                row: row.row,
                request,
                secret: secret.clone(),
            }),
            Err(problems) => skipped.push(SkippedRow {
                row: row.row,
                subscription_id: row.subscription_id,
                name: row.name.unwrap_or_default(),
                problems,
            }),
        }
    }
    (items, skipped)
}

/// The store's record of a batch's file: each job's row (`requests`, `numbers` and `jobs`
/// pair up in order) and the skipped rows.
pub(crate) fn source_rows(
    requests: &[(OnboardingRequest, Option<SecretString>)],
    numbers: &[u64],
    jobs: &[NewJob],
    skipped: &[SkippedRow],
) -> Vec<BatchSourceRow> {
    let kept = requests
        .iter()
        .zip(numbers)
        .zip(jobs)
        .map(|(((request, _), row), job)| BatchSourceRow {
            row: *row,
            job_id: Some(job.id),
            account_id: request.scope.account_id().to_owned(),
            name: request.name.as_str().to_owned(),
            problems: Vec::new(),
        });
    let left_out = skipped.iter().map(|s| BatchSourceRow {
        row: s.row,
        job_id: None,
        account_id: s.subscription_id.clone(),
        name: s.name.clone(),
        problems: s
            .problems
            .iter()
            .map(|p| RowProblem {
                field: p.field.clone(),
                message: p.message.clone(),
            })
            .collect(),
    });
    kept.chain(left_out).collect()
}

/// The skipped rows of a batch's stored file rows, by row number.
pub(crate) fn skipped_rows(source: &[BatchSourceRow]) -> Vec<SkippedRow> {
    source
        .iter()
        .filter(|r| r.job_id.is_none())
        .map(|r| SkippedRow {
            row: r.row,
            subscription_id: r.account_id.clone(),
            name: r.name.clone(),
            problems: r
                .problems
                .iter()
                .map(|p| FieldError {
                    field: p.field.clone(),
                    message: p.message.clone(),
                })
                .collect(),
        })
        .collect()
}

/// The columns of a batch's results as CSV (`GET /api/v1/batches/{id}/report.csv`).
pub const REPORT_COLUMNS: [&str; 8] = [
    "row",
    "subscription_id",
    "name",
    "state",
    "outcome",
    "error_code",
    "error_message",
    "job_id",
];

/// A batch's results as CSV records ([`REPORT_COLUMNS`]): every row of the batch's file in
/// row order — the jobs, and the skipped rows (state `skipped`, error code `invalid_row`, their
/// problems as the message). A batch submitted without a file has no row numbers: its jobs
/// keep submission order and the `row` cell is empty.
pub fn report_records(report: &crate::BatchReport) -> Vec<[String; 8]> {
    let jobs = report.rows.iter().map(|r| {
        (
            r.row,
            [
                r.row.map(|n| n.to_string()).unwrap_or_default(),
                r.account_id.clone(),
                r.name.clone(),
                r.state.to_string(),
                r.outcome.clone().unwrap_or_default(),
                r.code.clone().unwrap_or_default(),
                r.message.clone().unwrap_or_default(),
                r.job_id.clone(),
            ],
        )
    });
    let skipped = report.skipped.iter().map(|s| {
        (
            Some(s.row),
            [
                s.row.to_string(),
                s.subscription_id.clone(),
                s.name.clone(),
                "skipped".to_owned(),
                String::new(),
                "invalid_row".to_owned(),
                s.problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
                String::new(),
            ],
        )
    });
    let mut records: Vec<_> = jobs.chain(skipped).collect();
    // Stable: rows without a number keep their order.
    records.sort_by_key(|(row, _)| *row);
    records.into_iter().map(|(_, record)| record).collect()
}

/// Builds and validates every row with the batch's shared options. A subscription listed
/// twice is an error on its second row.
pub fn validate_rows(rows: &[CsvRow], defaults: &BatchDefaults) -> Vec<CheckedRow> {
    let mut seen: HashMap<String, u64> = HashMap::new();
    rows.iter()
        .map(|row| {
            let base = &defaults.request;
            let raw = RawRequest {
                scope: Some("subscription".into()),
                subscription_id: Some(row.subscription_id.clone()),
                tenant_id: row.tenant_id.clone().or_else(|| base.tenant_id.clone()),
                name: row.name.clone().or_else(|| base.name.clone()),
                groups: if row.groups.is_empty() {
                    base.groups.clone()
                } else {
                    row.groups.clone()
                },
                ..base.clone()
            };
            let mut errors = Vec::new();
            let key = row.subscription_id.to_ascii_lowercase();
            match seen.get(&key) {
                Some(first) => errors.push(field(
                    format!("row {} subscription_id", row.row),
                    format!("{} is already in row {first}", row.subscription_id),
                )),
                None => {
                    seen.insert(key, row.row);
                }
            }
            let request = raw.validate().map_err(|e| {
                e.errors
                    .into_iter()
                    .map(|f| {
                        let hint = match (f.field.as_str(), defaults.hints) {
                            ("tenant_id", Some(h)) => h.tenant,
                            ("name", Some(h)) => h.name,
                            _ => "",
                        };
                        field(
                            format!("row {} {}", row.row, f.field),
                            format!("{}{hint}", f.message),
                        )
                    })
                    .collect::<Vec<_>>()
            });
            let result = match request {
                Ok(mut r) if errors.is_empty() => match defaults.identity_per.apply(&mut r) {
                    Ok(()) => Ok(r),
                    Err(f) => Err(vec![field(
                        format!("row {} {}", row.row, f.field),
                        f.message,
                    )]),
                },
                Ok(_) => Err(errors),
                Err(mut e) => {
                    errors.append(&mut e);
                    Err(errors)
                }
            };
            CheckedRow {
                row: row.clone(),
                result,
            }
        })
        .collect()
}

/// The line a byte offset is on (the csv crate's own line count skips blank lines). Records
/// come in order, so each query counts only the newlines since the previous one: counting
/// from the start for every row made a 12,400-row file quadratic (seconds of a batch's start).
struct LineCounter<'a> {
    bytes: &'a [u8],
    /// `newlines` is the count of `\n` in `bytes[..counted_to]`.
    counted_to: usize,
    newlines: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            counted_to: 0,
            newlines: 0,
        }
    }

    /// A record's position may point at blank lines before it: those are skipped.
    fn line_at(&mut self, byte: u64) -> u64 {
        let bytes = self.bytes;
        let mut end = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
        while end < bytes.len() && matches!(bytes[end], b'\n' | b'\r') {
            end += 1;
        }
        let count = |range: &[u8]| range.iter().filter(|b| **b == b'\n').count() as u64;
        if end < self.counted_to {
            return count(&bytes[..end]) + 1;
        }
        self.newlines += count(&bytes[self.counted_to..end]);
        self.counted_to = end;
        self.newlines + 1
    }
}

/// Parses a batch file's contents.
/// `name_template` says whether an empty `name` may be filled from the batch's name; a missing
/// name column is then explained with `name_hint`. Every problem of every row is returned.
pub fn parse_rows(
    bytes: &[u8],
    name_template: bool,
    name_hint: &str,
) -> Result<Vec<CsvRow>, Vec<FieldError>> {
    let mut reader = ::csv::ReaderBuilder::new()
        .trim(::csv::Trim::All)
        .flexible(false)
        .from_reader(bytes);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| vec![field("row 1", format!("cannot read the header: {e}"))])?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase())
        .collect();
    let mut errors = Vec::new();
    for h in &headers {
        if !COLUMNS.contains(&h.as_str()) {
            errors.push(field(
                "row 1",
                format!(
                    "unknown column '{h}'; the columns are {}",
                    COLUMNS.join(", ")
                ),
            ));
        }
    }
    let column = |name: &str| headers.iter().position(|h| h == name);
    let (sub_col, name_col, groups_col, tenant_col) = (
        column("subscription_id"),
        column("name"),
        column("groups"),
        column("tenant_id"),
    );
    if sub_col.is_none() {
        errors.push(field("row 1", "the subscription_id column is missing"));
    }
    if name_col.is_none() && !name_template {
        errors.push(field(
            "row 1",
            format!("the name column is missing{name_hint}"),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut lines = LineCounter::new(bytes);
    let mut line_at = |byte: u64| lines.line_at(byte);
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let row = e.position().map(|p| line_at(p.byte())).unwrap_or_default();
                errors.push(field(format!("row {row}"), format!("not valid CSV: {e}")));
                continue;
            }
        };
        let row = record
            .position()
            .map(|p| line_at(p.byte()))
            .unwrap_or_default();
        let cell = |col: Option<usize>| {
            col.and_then(|c| record.get(c))
                .map(str::to_owned)
                .filter(|v| !v.is_empty())
        };
        rows.push(CsvRow {
            row,
            subscription_id: cell(sub_col).unwrap_or_default(),
            name: cell(name_col),
            groups: cell(groups_col)
                .map(|g| {
                    g.split(';')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            tenant_id: cell(tenant_col),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if rows.is_empty() {
        return Err(vec![field("file", "has a header but no rows")]);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f";
    const TENANT: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

    fn joined(errors: Vec<FieldError>) -> String {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn row(n: u64, sub: &str, name: Option<&str>) -> CsvRow {
        CsvRow {
            row: n,
            subscription_id: sub.into(),
            name: name.map(Into::into),
            groups: Vec::new(),
            tenant_id: None,
        }
    }

    #[test]
    fn every_bad_row_is_named_with_its_field_and_the_good_ones_pass() {
        let rows = [
            row(2, SUB, Some("ok")),
            row(3, "{bad}", Some("b")),
            row(4, SUB, None),
        ];
        let defaults = BatchDefaults {
            request: RawRequest {
                tenant_id: Some(TENANT.into()),
                groups: vec!["Default Account Group".into()],
                ..RawRequest::default()
            },
            hints: Some(Hints {
                tenant: " (add a tenant_id column)",
                name: " (fill the name column)",
            }),
            ..BatchDefaults::default()
        };
        let checked = validate_rows(&rows, &defaults);
        assert!(checked[0].result.is_ok());
        let errors: Vec<FieldError> = checked
            .iter()
            .filter_map(|c| c.result.clone().err())
            .flatten()
            .collect();
        let fields: Vec<_> = errors.iter().map(|f| f.field.as_str()).collect();
        assert!(fields.contains(&"row 3 subscription_id"), "{fields:?}");
        assert!(fields.contains(&"row 4 name"), "{fields:?}");
        let text = joined(errors);
        assert!(text.contains("already in row 2"), "{text}");
        assert!(text.contains("(fill the name column)"), "{text}");
    }

    #[test]
    fn a_name_template_and_row_groups_override_the_defaults() {
        let mut with_groups = row(2, SUB, None);
        with_groups.groups = vec!["Production".into()];
        let defaults = BatchDefaults {
            request: RawRequest {
                tenant_id: Some(TENANT.into()),
                name: Some("azure-{subscription_id}".into()),
                groups: vec!["Default Account Group".into()],
                ..RawRequest::default()
            },
            ..BatchDefaults::default()
        };
        let checked = validate_rows(&[with_groups], &defaults);
        let request = checked[0].result.as_ref().unwrap();
        assert_eq!(request.name.as_str(), format!("azure-{SUB}"));
        assert_eq!(request.groups, [crate::GroupRef::Name("Production".into())]);
        // Bulk's default: the tenant's shared identity.
        assert!(matches!(
            request.identity,
            crate::IdentitySource::SharedTenant { .. }
        ));
    }

    #[test]
    fn rows_are_numbered_like_a_spreadsheet() {
        let text = "subscription_id,name,groups\n\
                    8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f, prod ,A; B\n\
                    \n\
                    9f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f,dev,\n";
        let rows = parse_rows(text.as_bytes(), false, "").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].row, 2);
        assert_eq!(rows[0].name.as_deref(), Some("prod"));
        assert_eq!(rows[0].groups, ["A", "B"]);
        assert_eq!(rows[1].row, 4);
        assert!(rows[1].groups.is_empty());
        assert_eq!(rows[1].tenant_id, None);
    }

    /// The counter gives what counting from the start gives, in order, out of order (an
    /// error's position may come back) and across blank and `\r\n` lines.
    #[test]
    fn the_line_counter_agrees_with_counting_from_the_start() {
        let mut text = String::from("subscription_id,name\r\n");
        for n in 0..300 {
            text.push_str(&format!("{n:08x}-0000-4000-8000-000000000000,n{n}\r\n"));
            if n % 7 == 0 {
                text.push_str("\n\r\n");
            }
        }
        let bytes = text.as_bytes();
        let from_start = |byte: usize| {
            let mut end = byte.min(bytes.len());
            while end < bytes.len() && matches!(bytes[end], b'\n' | b'\r') {
                end += 1;
            }
            bytes[..end].iter().filter(|b| **b == b'\n').count() as u64 + 1
        };
        let mut counter = LineCounter::new(bytes);
        let offsets: Vec<usize> = (0..bytes.len())
            .step_by(13)
            .chain([5, 900, 17, bytes.len() + 9])
            .collect();
        for byte in offsets {
            assert_eq!(
                counter.line_at(byte as u64),
                from_start(byte),
                "byte {byte}"
            );
        }
        let rows = parse_rows(bytes, false, "").unwrap();
        assert_eq!(rows.len(), 300);
        assert_eq!(rows[0].row, 2);
        assert_eq!(rows[1].row, 5, "row 0 is followed by two blank lines");
        assert_eq!(rows[299].row, from_start(text.rfind("0000012b").unwrap()));
    }

    #[test]
    fn header_problems_name_row_one() {
        let err = joined(parse_rows(b"subscription,nme\nx,y\n", false, "").unwrap_err());
        assert!(err.contains("row 1"), "{err}");
        assert!(err.contains("unknown column 'subscription'"), "{err}");
        assert!(err.contains("subscription_id column is missing"));
        let err = joined(parse_rows(b"subscription_id\n", true, "").unwrap_err());
        assert!(err.contains("no rows"), "{err}");
    }

    #[test]
    fn a_ragged_row_is_named() {
        let err = joined(parse_rows(b"subscription_id,name\na,b\nc,d,e\n", false, "").unwrap_err());
        assert!(err.contains("row 3"), "{err}");
    }

    #[test]
    fn a_byte_order_mark_and_upper_case_headers_are_fine() {
        let rows = parse_rows(
            "\u{feff}Subscription_ID,NAME,Tenant_Id\na,b,c\n".as_bytes(),
            false,
            "",
        )
        .unwrap();
        assert_eq!(rows[0].tenant_id.as_deref(), Some("c"));
    }
}
