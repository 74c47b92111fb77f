//! `/metrics` parsed as the Prometheus text format: every sample belongs to a declared family,
//! histograms are cumulative and end in `+Inf` = `_count`, per-process series are separate from
//! the store-wide gauge (which carries `scope="store"`), and the figures match what happened.

use std::collections::{BTreeMap, HashMap};

use crate::common::{OPERATOR, Server, VIEWER, subscription};

/// One sample: metric name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses exposition text 0.0.4: `# TYPE` lines and samples (labels with `\"`, `\\` escapes).
fn parse(text: &str) -> (HashMap<String, String>, Vec<Sample>) {
    let mut types = HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(line);
            assert!(
                ["counter", "gauge", "histogram", "summary"].contains(&kind),
                "{line}"
            );
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "twice: {line}"
            );
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect(line);
        let value: f64 = if value == "+Inf" {
            f64::INFINITY
        } else {
            value.parse().expect(line)
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect(line);
                let mut labels = BTreeMap::new();
                let mut chars = body.chars().peekable();
                while chars.peek().is_some() {
                    let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    assert_eq!(chars.next(), Some('"'), "{line}");
                    let mut v = String::new();
                    loop {
                        match chars.next().expect(line) {
                            '\\' => v.push(chars.next().expect(line)),
                            '"' => break,
                            c => v.push(c),
                        }
                    }
                    labels.insert(key, v);
                    if chars.peek() == Some(&',') {
                        chars.next();
                    }
                }
                (name.to_owned(), labels)
            }
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        samples.push((name, labels, value));
    }
    (types, samples)
}

/// The family a sample belongs to (`x_bucket` → `x` for a histogram).
fn family<'a>(types: &HashMap<String, String>, name: &'a str) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|s| name.strip_suffix(s))
        .find(|base| {
            types
                .get(*base)
                .is_some_and(|t| t == "histogram" || t == "summary")
        })
}

#[tokio::test]
async fn metrics_parse_and_add_up() {
    let server = Server::start().await;
    let op = server.token(OPERATOR).await;
    let viewer = server.token(VIEWER).await;
    for n in [61, 62] {
        let (status, accepted) = server
            .call("POST", "/api/v1/jobs", &op, Some(subscription(n)))
            .await;
        assert_eq!(status, 202, "{accepted}");
        let job = accepted["id"].as_str().unwrap().to_owned();
        server.wait_for(&job, |s| s.is_terminal()).await;
    }
    let text = server
        .request("GET", "/metrics", &viewer, None)
        .await
        .text()
        .await
        .unwrap();
    let (types, samples) = parse(&text);
    for (name, _, _) in &samples {
        assert!(family(&types, name).is_some(), "{name} has no # TYPE");
    }
    let find = |name: &str, want: &[(&str, &str)]| -> Vec<&Sample> {
        samples
            .iter()
            .filter(|(n, labels, _)| {
                n == name
                    && want
                        .iter()
                        .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    };
    // build_info: one series, value 1, with a version.
    let build = find("cortex_build_info", &[]);
    assert_eq!(build.len(), 1, "{text}");
    assert_eq!(build[0].2, 1.0);
    assert!(!build[0].1["version"].is_empty() && build[0].1.contains_key("commit"));
    // The store-wide gauge, labelled as such, one series per state.
    let jobs = find("cortex_jobs", &[("scope", "store")]);
    assert_eq!(jobs.len(), cortex_store::JobState::ALL.len(), "{text}");
    assert_eq!(
        find("cortex_jobs", &[("state", "succeeded")])[0].2,
        2.0,
        "{text}"
    );
    assert_eq!(types["cortex_jobs"], "gauge");
    // Per-process series do not carry the store's scope.
    for (name, labels, _) in &samples {
        if name != "cortex_jobs" {
            assert!(!labels.contains_key("scope"), "{name} {labels:?}");
        }
    }
    // Histograms: cumulative buckets, +Inf equals _count.
    for (base, kind) in &types {
        if kind != "histogram" {
            continue;
        }
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for (name, labels, value) in &samples {
            if *name == format!("{base}_bucket") {
                let mut key = labels.clone();
                let le = key.remove("le").expect("le");
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                series
                    .entry(format!("{key:?}"))
                    .or_default()
                    .push((le, *value));
            }
        }
        for (key, buckets) in &series {
            assert!(
                buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
                "{base} {key}"
            );
            let (le, top) = buckets.last().unwrap();
            assert!(le.is_infinite(), "{base} {key} ends in +Inf");
            let count = samples
                .iter()
                .find(|(n, l, _)| {
                    *n == format!("{base}_count") && {
                        let mut l = l.clone();
                        l.remove("le");
                        format!("{l:?}") == *key
                    }
                })
                .expect("a _count");
            assert_eq!(*top, count.2, "{base} {key}");
        }
    }
    // The route latency histogram saw the submissions; the platform call histogram counts as
    // many calls as the call counter.
    let submits = find(
        "cortex_web_http_request_duration_seconds_count",
        &[("method", "POST"), ("route", "/api/v1/jobs")],
    );
    assert_eq!(submits.len(), 1, "{text}");
    assert_eq!(submits[0].2, 2.0);
    let calls: f64 = find("cortex_prisma_calls_total", &[])
        .iter()
        .map(|s| s.2)
        .sum();
    let timed: f64 = find(
        "cortex_platform_call_duration_seconds_count",
        &[("platform", "prisma")],
    )
    .iter()
    .map(|s| s.2)
    .sum();
    assert!(calls >= 4.0, "{text}");
    assert_eq!(calls, timed, "{text}");
}
