//! `filter_data` evaluated against rows: AND/OR groups, the search types clients use
//! (`EQ, NEQ, IN, NIN, CONTAINS, NCONTAINS, WILDCARD, WILDCARD_NOT, GT, LT, GTE, LTE, RANGE,
//! IS_EMPTY, NIS_EMPTY`), sort on any search field, paging `from` inclusive to `to` exclusive.
//!
//! String comparisons ignore case (the enum values are upper case on the wire; the real
//! service's case rule is unconfirmed). An unknown search field, or a search type this
//! emulator does not evaluate, is a 422 naming the criterion.

use std::cmp::Ordering;

use cortex_cloud_types::filter::{Criterion, FilterData, FilterNode, SearchType, SortOrder};
use serde_json::Value;

use super::reply::Failure;

/// Page size when a request gives no paging (UNCONFIRMED: docs/emulator.md).
pub const DEFAULT_PAGE: u32 = 100;

/// A row a filter can look into: the value of a search field (upper-case name).
pub trait Searchable {
    fn field(&self, name: &str) -> Value;
}

/// The rows that pass, sorted and paged, with FILTER_COUNT (rows that passed) and
/// TOTAL_COUNT (rows considered).
pub fn select<'a, T: Searchable>(
    rows: Vec<&'a T>,
    filter: &FilterData,
    fields: &[&str],
) -> Result<(Vec<&'a T>, u64, u64), Failure> {
    let total = rows.len() as u64;
    if let Some(node) = &filter.filter {
        check(node, fields, "filter_data.filter")?;
    }
    for (i, s) in filter.sort.iter().enumerate() {
        if !fields.contains(&s.field.to_ascii_uppercase().as_str()) {
            return Err(Failure::invalid(
                &format!("filter_data.sort.{i}.FIELD"),
                "value_error",
                format!("unknown sort field; expected one of {}", fields.join(", ")),
                Some(s.field.clone().into()),
            ));
        }
    }
    let paging = filter.paging.unwrap_or(cortex_cloud_types::Paging {
        from: 0,
        to: DEFAULT_PAGE,
    });
    paging.validate().map_err(Failure::from)?;
    let mut kept: Vec<&T> = rows
        .into_iter()
        .filter(|r| filter.filter.as_ref().is_none_or(|n| eval(n, *r)))
        .collect();
    let filtered = kept.len() as u64;
    if !filter.sort.is_empty() {
        kept.sort_by(|a, b| {
            for s in &filter.sort {
                let name = s.field.to_ascii_uppercase();
                let o = compare(&a.field(&name), &b.field(&name));
                let o = if s.order == SortOrder::Desc {
                    o.reverse()
                } else {
                    o
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
    let from = (paging.from as usize).min(kept.len());
    let to = (paging.to as usize).min(kept.len());
    Ok((kept[from..to].to_vec(), filtered, total))
}

/// True when the filter names `value` for `field` with EQ or IN (how clients ask for pending
/// or deleted instances, which unfiltered lists leave out).
pub fn asks_for(filter: &FilterData, field: &str, value: &str) -> bool {
    fn walk(n: &FilterNode, field: &str, value: &str) -> bool {
        match n {
            FilterNode::And(v) | FilterNode::Or(v) => v.iter().any(|n| walk(n, field, value)),
            FilterNode::Criterion(c) => {
                canonical(&c.field).eq_ignore_ascii_case(field)
                    && matches!(
                        c.kind,
                        SearchType::Eq
                            | SearchType::In
                            | SearchType::Contains
                            | SearchType::Wildcard
                    )
                    && match &c.value {
                        Value::String(s) => s.eq_ignore_ascii_case(value),
                        Value::Array(a) => a
                            .iter()
                            .any(|v| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(value))),
                        _ => false,
                    }
            }
        }
    }
    filter
        .filter
        .as_ref()
        .is_some_and(|n| walk(n, field, value))
}

/// `PROVIDER` is the documented spelling, `CLOUD_PROVIDER` the one clients send.
fn canonical(field: &str) -> String {
    let up = field.to_ascii_uppercase();
    if up == "PROVIDER" {
        "CLOUD_PROVIDER".to_owned()
    } else {
        up
    }
}

fn check(node: &FilterNode, fields: &[&str], at: &str) -> Result<(), Failure> {
    match node {
        FilterNode::And(v) | FilterNode::Or(v) => {
            let op = if matches!(node, FilterNode::And(_)) {
                "AND"
            } else {
                "OR"
            };
            for (i, n) in v.iter().enumerate() {
                check(n, fields, &format!("{at}.{op}.{i}"))?;
            }
            Ok(())
        }
        FilterNode::Criterion(c) => {
            if !fields.contains(&c.field.to_ascii_uppercase().as_str()) {
                return Err(Failure::invalid(
                    &format!("{at}.SEARCH_FIELD"),
                    "value_error",
                    format!(
                        "unknown search field; expected one of {}",
                        fields.join(", ")
                    ),
                    Some(c.field.clone().into()),
                ));
            }
            let supported = matches!(
                c.kind,
                SearchType::Eq
                    | SearchType::Neq
                    | SearchType::In
                    | SearchType::Nin
                    | SearchType::Contains
                    | SearchType::Ncontains
                    | SearchType::Wildcard
                    | SearchType::WildcardNot
                    | SearchType::Gt
                    | SearchType::Lt
                    | SearchType::Gte
                    | SearchType::Lte
                    | SearchType::Range
                    | SearchType::IsEmpty
                    | SearchType::NisEmpty
            );
            if !supported {
                return Err(Failure::invalid(
                    &format!("{at}.SEARCH_TYPE"),
                    "value_error",
                    format!("search type {} is not supported on this field", c.kind),
                    Some(c.kind.as_str().into()),
                ));
            }
            if matches!(c.kind, SearchType::In | SearchType::Nin) && !c.value.is_array() {
                return Err(Failure::invalid(
                    &format!("{at}.SEARCH_VALUE"),
                    "list_type",
                    "must be a list with IN / NIN",
                    Some(c.value.clone()),
                ));
            }
            Ok(())
        }
    }
}

fn eval<T: Searchable>(node: &FilterNode, row: &T) -> bool {
    match node {
        FilterNode::And(v) => v.iter().all(|n| eval(n, row)),
        FilterNode::Or(v) => v.iter().any(|n| eval(n, row)),
        FilterNode::Criterion(c) => criterion(c, &row.field(&canonical(&c.field))),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_ascii_lowercase(),
        Value::Null => String::new(),
        other => other.to_string().to_ascii_lowercase(),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) if !a.is_string() || !b.is_string() => (x - y).abs() < f64::EPSILON,
        _ => text(a) == text(b),
    }
}

fn wildcard(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let mut rest = s;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

fn criterion(c: &Criterion, actual: &Value) -> bool {
    let want = &c.value;
    let ord = || match (number(actual), number(want)) {
        (Some(a), Some(w)) => a.partial_cmp(&w),
        _ => None,
    };
    match c.kind {
        SearchType::Eq => equal(actual, want),
        SearchType::Neq => !equal(actual, want),
        SearchType::In => want
            .as_array()
            .is_some_and(|a| a.iter().any(|w| equal(actual, w))),
        SearchType::Nin => want
            .as_array()
            .is_none_or(|a| !a.iter().any(|w| equal(actual, w))),
        SearchType::Contains => text(actual).contains(&text(want)),
        SearchType::Ncontains => !text(actual).contains(&text(want)),
        SearchType::Wildcard => wildcard(&text(want), &text(actual)),
        SearchType::WildcardNot => !wildcard(&text(want), &text(actual)),
        SearchType::Gt => ord() == Some(Ordering::Greater),
        SearchType::Lt => ord() == Some(Ordering::Less),
        SearchType::Gte => matches!(ord(), Some(Ordering::Greater | Ordering::Equal)),
        SearchType::Lte => matches!(ord(), Some(Ordering::Less | Ordering::Equal)),
        SearchType::Range => {
            let (from, to) = (
                want.get("from").and_then(number),
                want.get("to").and_then(number),
            );
            number(actual).is_some_and(|a| from.is_none_or(|f| a >= f) && to.is_none_or(|t| a <= t))
        }
        SearchType::IsEmpty => text(actual).is_empty(),
        SearchType::NisEmpty => !text(actual).is_empty(),
        _ => false,
    }
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => {
            number(a).partial_cmp(&number(b)).unwrap_or(Ordering::Equal)
        }
        _ => text(a).cmp(&text(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex_cloud_types::filter::Paging;
    use serde_json::json;

    struct Row(Value);
    impl Searchable for Row {
        fn field(&self, name: &str) -> Value {
            self.0.get(name).cloned().unwrap_or(Value::Null)
        }
    }

    fn rows() -> Vec<Row> {
        (0..10)
            .map(|i| Row(json!({"ID": format!("id{i}"), "STATUS": if i % 2 == 0 { "CONNECTED" } else { "WARNING" }, "CREATION_TIME": 1000 + i, "INSTANCE_NAME": format!("Azure prod {i}")})))
            .collect()
    }

    const FIELDS: &[&str] = &["ID", "STATUS", "CREATION_TIME", "INSTANCE_NAME"];

    #[test]
    fn filters_sort_and_page() {
        let all = rows();
        let f: FilterData = serde_json::from_value(json!({
            "filter": {"AND": [{"SEARCH_FIELD": "STATUS", "SEARCH_TYPE": "EQ", "SEARCH_VALUE": "connected"},
                               {"OR": [{"SEARCH_FIELD": "INSTANCE_NAME", "SEARCH_TYPE": "WILDCARD", "SEARCH_VALUE": "*prod 2"},
                                       {"SEARCH_FIELD": "CREATION_TIME", "SEARCH_TYPE": "GTE", "SEARCH_VALUE": 1006}]}]},
            "sort": [{"FIELD": "CREATION_TIME", "ORDER": "DESC"}],
            "paging": {"from": 0, "to": 2}
        }))
        .unwrap();
        let (page, filtered, total) = select(all.iter().collect(), &f, FIELDS).unwrap();
        let ids: Vec<_> = page.iter().map(|r| r.0["ID"].as_str().unwrap()).collect();
        assert_eq!(ids, ["id8", "id6"]);
        assert_eq!((filtered, total), (3, 10));
        let second = FilterData {
            paging: Some(Paging { from: 2, to: 4 }),
            ..f
        };
        let (page, _, _) = select(all.iter().collect(), &second, FIELDS).unwrap();
        assert_eq!(page.len(), 1);
        let f: FilterData = serde_json::from_value(json!({"filter": {"AND": [{"SEARCH_FIELD": "ID", "SEARCH_TYPE": "IN", "SEARCH_VALUE": ["id1", "id3"]}]}})).unwrap();
        assert_eq!(select(all.iter().collect(), &f, FIELDS).unwrap().1, 2);
        assert!(!asks_for(&f, "STATUS", "PENDING"));
    }

    #[test]
    fn unknown_fields_and_types_name_the_criterion() {
        let all = rows();
        let f: FilterData = serde_json::from_value(json!({"filter": {"AND": [{"SEARCH_FIELD": "COLOR", "SEARCH_TYPE": "EQ", "SEARCH_VALUE": "x"}]}})).unwrap();
        let e = select(all.iter().collect(), &f, FIELDS).err().unwrap();
        assert_eq!(
            e.body.err_extra.fields()[0].field_path().as_deref(),
            Some("filter_data.filter.AND.0.SEARCH_FIELD")
        );
        let f: FilterData = serde_json::from_value(json!({"filter": {"SEARCH_FIELD": "ID", "SEARCH_TYPE": "IP_MATCH", "SEARCH_VALUE": "x"}})).unwrap();
        assert!(select(all.iter().collect(), &f, FIELDS).is_err());
        let f: FilterData =
            serde_json::from_value(json!({"paging": {"from": 0, "to": 5000}})).unwrap();
        assert!(select(all.iter().collect(), &f, FIELDS).is_err());
        let pending: FilterData = serde_json::from_value(json!({"filter": {"AND": [{"SEARCH_FIELD": "ID", "SEARCH_TYPE": "EQ", "SEARCH_VALUE": "x"}, {"SEARCH_FIELD": "STATUS", "SEARCH_TYPE": "EQ", "SEARCH_VALUE": "PENDING"}]}})).unwrap();
        assert!(asks_for(&pending, "STATUS", "PENDING"));
    }
}
