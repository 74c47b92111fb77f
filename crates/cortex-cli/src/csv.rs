//! The batch file of `onboard batch`: a CSV with a header row.
//!
//! | column | required | meaning |
//! | --- | --- | --- |
//! | `subscription_id` | yes | the subscription to onboard |
//! | `name` | yes, unless `--name` gives a template (`{subscription_id}` is filled in) | the account name in Prisma Cloud |
//! | `groups` | no (default: `--groups`, else `Default Account Group`) | account groups, `;`-separated |
//! | `tenant_id` | no (default: `--tenant`) | the subscription's tenant |
//!
//! Rows are numbered as in a spreadsheet: the header is row 1, so the first subscription is
//! row 2. Every problem is reported with its row and field, for every row, before anything is
//! submitted.

use std::path::Path;

use onboarding_engine::request::FieldError;

use crate::exit::CliError;

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

/// Reads `path`; `name_template` says whether an empty `name` may be filled from `--name`.
pub fn read_rows(path: &Path, name_template: bool) -> Result<Vec<CsvRow>, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::field("file", format!("cannot read {}: {e}", path.display())))?;
    parse_rows(&bytes, name_template)
}

/// Parses a batch file's contents.
pub fn parse_rows(bytes: &[u8], name_template: bool) -> Result<Vec<CsvRow>, CliError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .trim(::csv::Trim::All)
        .flexible(false)
        .from_reader(bytes);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| CliError::field("row 1", format!("cannot read the header: {e}")))?
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
            "the name column is missing (or give --name, e.g. --name 'azure-{subscription_id}')",
        ));
    }
    if !errors.is_empty() {
        return Err(CliError::invalid(errors));
    }
    // The line a byte offset is on (the csv crate's own line count skips blank lines).
    // A record's position may point at blank lines before it: skip those.
    let line_at = |byte: u64| {
        let mut end = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
        while end < bytes.len() && matches!(bytes[end], b'\n' | b'\r') {
            end += 1;
        }
        bytes[..end].iter().filter(|b| **b == b'\n').count() as u64 + 1
    };
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
        return Err(CliError::invalid(errors));
    }
    if rows.is_empty() {
        return Err(CliError::field("file", "has a header but no rows"));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_numbered_like_a_spreadsheet() {
        let text = "subscription_id,name,groups\n\
                    8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f, prod ,A; B\n\
                    \n\
                    9f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f,dev,\n";
        let rows = parse_rows(text.as_bytes(), false).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].row, 2);
        assert_eq!(rows[0].name.as_deref(), Some("prod"));
        assert_eq!(rows[0].groups, ["A", "B"]);
        assert_eq!(rows[1].row, 4);
        assert!(rows[1].groups.is_empty());
        assert_eq!(rows[1].tenant_id, None);
    }

    #[test]
    fn header_problems_name_row_one() {
        let err = parse_rows(b"subscription,nme\nx,y\n", false).unwrap_err();
        assert!(err.message.contains("row 1"), "{err}");
        assert!(
            err.message.contains("unknown column 'subscription'"),
            "{err}"
        );
        assert!(err.message.contains("subscription_id column is missing"));
        let err = parse_rows(b"subscription_id\n", true).unwrap_err();
        assert!(err.message.contains("no rows"), "{err}");
    }

    #[test]
    fn a_ragged_row_is_named() {
        let err = parse_rows(b"subscription_id,name\na,b\nc,d,e\n", false).unwrap_err();
        assert!(err.message.contains("row 3"), "{err}");
    }

    #[test]
    fn a_byte_order_mark_and_upper_case_headers_are_fine() {
        let rows = parse_rows(
            "\u{feff}Subscription_ID,NAME,Tenant_Id\na,b,c\n".as_bytes(),
            false,
        )
        .unwrap();
        assert_eq!(rows[0].tenant_id.as_deref(), Some("c"));
    }
}
