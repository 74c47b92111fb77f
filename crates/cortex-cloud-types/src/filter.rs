//! `filter_data`: how list endpoints are filtered, sorted and paged.
//!
//! ```json
//! {"sort": [{"FIELD": "CREATION_TIME", "ORDER": "DESC"}],
//!  "paging": {"from": 0, "to": 100},
//!  "filter": {"AND": [{"SEARCH_FIELD": "STATUS", "SEARCH_TYPE": "NEQ", "SEARCH_VALUE": "PENDING"}]}}
//! ```
//! Groups nest. Paging is `from` inclusive, `to` exclusive; the SDK caps a page at 2000.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ValidationError;

/// The largest page the official SDK asks for.
pub const MAX_PAGE: u32 = 2000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FilterData {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sort: Vec<Sort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<FilterNode>,
}

impl FilterData {
    pub fn new() -> Self {
        Self::default()
    }

    /// All of `criteria` must hold.
    pub fn all(mut self, criteria: Vec<FilterNode>) -> Self {
        self.filter = Some(FilterNode::And(criteria));
        self
    }

    pub fn sorted(mut self, field: &str, order: SortOrder) -> Self {
        self.sort.push(Sort {
            field: field.to_owned(),
            order,
        });
        self
    }

    pub fn page(mut self, from: u32, to: u32) -> Self {
        self.paging = Some(Paging { from, to });
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sort {
    #[serde(rename = "FIELD")]
    pub field: String,
    #[serde(rename = "ORDER", default)]
    pub order: SortOrder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SortOrder {
    #[default]
    #[serde(rename = "ASC", alias = "asc")]
    Asc,
    #[serde(rename = "DESC", alias = "desc")]
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paging {
    pub from: u32,
    pub to: u32,
}

impl Paging {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.to < self.from {
            return Err(ValidationError::new(
                "filter_data.paging.to",
                "must not be less than paging.from",
            ));
        }
        if self.to - self.from > MAX_PAGE {
            return Err(ValidationError::new(
                "filter_data.paging",
                format!("asks for more than {MAX_PAGE} rows"),
            ));
        }
        Ok(())
    }
}

/// A criterion or an AND/OR group of nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FilterNode {
    #[serde(rename = "AND")]
    And(Vec<FilterNode>),
    #[serde(rename = "OR")]
    Or(Vec<FilterNode>),
    #[serde(untagged)]
    Criterion(Criterion),
}

impl FilterNode {
    pub fn eq(field: &str, value: impl Into<Value>) -> Self {
        FilterNode::Criterion(Criterion::new(field, SearchType::Eq, value))
    }

    pub fn neq(field: &str, value: impl Into<Value>) -> Self {
        FilterNode::Criterion(Criterion::new(field, SearchType::Neq, value))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    #[serde(rename = "SEARCH_FIELD")]
    pub field: String,
    #[serde(rename = "SEARCH_TYPE")]
    pub kind: SearchType,
    #[serde(rename = "SEARCH_VALUE", default)]
    pub value: Value,
}

impl Criterion {
    pub fn new(field: &str, kind: SearchType, value: impl Into<Value>) -> Self {
        Self {
            field: field.to_owned(),
            kind,
            value: value.into(),
        }
    }
}

macro_rules! search_types {
    ($($variant:ident = $wire:literal),+ $(,)?) => {
        /// `SEARCH_TYPE`: the SDK's full list. The emulator evaluates the common ones and
        /// refuses the rest with a 422 naming the field.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum SearchType { $(#[serde(rename = $wire)] $variant),+ }

        impl SearchType {
            pub fn as_str(self) -> &'static str {
                match self { $(SearchType::$variant => $wire),+ }
            }
        }
    };
}

search_types!(
    Eq = "EQ",
    Neq = "NEQ",
    Gt = "GT",
    Lt = "LT",
    Gte = "GTE",
    Lte = "LTE",
    In = "IN",
    Nin = "NIN",
    Rlike = "RLIKE",
    Nrlike = "NRLIKE",
    Wildcard = "WILDCARD",
    WildcardNot = "WILDCARD_NOT",
    Contains = "CONTAINS",
    Ncontains = "NCONTAINS",
    IpMatch = "IP_MATCH",
    NipMatch = "NIP_MATCH",
    ArrayContains = "ARRAY_CONTAINS",
    ArrayNotContains = "ARRAY_NOT_CONTAINS",
    IsEmpty = "IS_EMPTY",
    NisEmpty = "NIS_EMPTY",
    Regex = "REGEX",
    RegexNot = "REGEX_NOT",
    RegexMatch = "REGEX_MATCH",
    RegexNotMatch = "REGEX_NOT_MATCH",
    IplistMatch = "IPLIST_MATCH",
    NlistipMatch = "NLISTIP_MATCH",
    Incidr = "INCIDR",
    Nincidr = "NINCIDR",
    Incidr6 = "INCIDR6",
    Nincidr6 = "NINCIDR6",
    Range = "RANGE",
    RelativeTimestamp = "RELATIVE_TIMESTAMP",
    JsonOverlaps = "JSON_OVERLAPS",
    JsonArrayContainedIn = "JSON_ARRAY_CONTAINED_IN",
    JsonIsNotEmpty = "JSON_IS_NOT_EMPTY",
);

impl fmt::Display for SearchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Search fields of `get_instances` (both spellings of the provider field).
pub const INSTANCE_FIELDS: &[&str] = &[
    "STATUS",
    "CLOUD_PROVIDER",
    "PROVIDER",
    "INSTANCE_NAME",
    "SCOPE",
    "SCAN_MODE",
    "CREATION_TIME",
    "OUTPOST_ID",
    "OUTPOST_ACCOUNT_NAME",
    "OUTPOST_ACCOUNT_ID",
    "AUTHENTICATION_METHOD",
    "ID",
];

/// Search fields of `get_accounts`.
pub const ACCOUNT_FIELDS: &[&str] = &[
    "STATUS",
    "ACCOUNT_NAME",
    "CLOUD_ACCOUNT_ID",
    "ENVIRONMENT",
    "TYPE",
    "CREATED_AT",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_recipe_round_trips() {
        let f = FilterData::new()
            .all(vec![
                FilterNode::eq("CLOUD_PROVIDER", "AZURE"),
                FilterNode::neq("STATUS", "PENDING"),
            ])
            .sorted("CREATION_TIME", SortOrder::Desc)
            .page(0, 100);
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["filter"]["AND"][1]["SEARCH_TYPE"], "NEQ");
        assert_eq!(json["sort"][0]["ORDER"], "DESC");
        let back: FilterData = serde_json::from_value(json).unwrap();
        assert_eq!(back, f);
        let nested: FilterData = serde_json::from_str(
            r#"{"filter":{"OR":[{"AND":[{"SEARCH_FIELD":"ID","SEARCH_TYPE":"EQ","SEARCH_VALUE":"a"}]},{"SEARCH_FIELD":"SCOPE","SEARCH_TYPE":"IN","SEARCH_VALUE":["ACCOUNT"]}]}}"#,
        )
        .unwrap();
        assert!(
            matches!(&nested.filter, Some(FilterNode::Or(v)) if matches!(&v[0], FilterNode::And(_)))
        );
        assert!(
            serde_json::from_str::<FilterData>(
                r#"{"filter":{"SEARCH_FIELD":"ID","SEARCH_TYPE":"LIKE"}}"#
            )
            .is_err()
        );
        assert!(Paging { from: 5, to: 1 }.validate().is_err());
        assert!(Paging { from: 0, to: 2001 }.validate().is_err());
        assert!(Paging { from: 0, to: 2000 }.validate().is_ok());
    }
}
