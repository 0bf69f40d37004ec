//! S6: metrics labels come from fixed sets (route patterns or `unmatched`, a
//! fixed list of methods plus `other`, the numeric status): no request can add
//! a time series.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use tests::{metric_value, Client, ServerOptions, TestDb, TestServer};

/// The label sets of every sample of `name`, each as `label -> value`.
fn series(text: &str, name: &str) -> Vec<BTreeMap<String, String>> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (metric, rest) = line.split_once('{')?;
            (metric == name).then_some(())?;
            let (labels, _value) = rest.rsplit_once('}')?;
            Some(
                labels
                    .split(',')
                    .filter_map(|pair| {
                        let (k, v) = pair.split_once('=')?;
                        Some((k.to_owned(), v.trim_matches('"').to_owned()))
                    })
                    .collect(),
            )
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn invented_methods_and_paths_add_no_series() {
    let db = TestDb::create(tests::Backend::Sqlite).await.unwrap();
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);

    for i in 1..=20 {
        let method = Method::from_bytes(format!("FOO{i}").as_bytes()).unwrap();
        let resp = api
            .http
            .request(method, api.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    // Lower case is another method (methods are case-sensitive), also `other`.
    let resp = api
        .http
        .request(Method::from_bytes(b"get").unwrap(), api.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    for i in 1..=20 {
        let resp = api
            .http
            .get(api.url(&format!("/nowhere-{i}/deeper")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }

    let text = api.metrics().await;
    assert!(!text.contains("FOO"), "{text}");
    assert!(!text.contains("method=\"get\""), "{text}");
    assert!(!text.contains("nowhere"), "{text}");

    let requests = series(&text, "cubby_http_requests_total");
    let healthz: Vec<_> = requests
        .iter()
        .filter(|s| s.get("route").is_some_and(|r| r == "/healthz"))
        .collect();
    assert_eq!(
        healthz,
        vec![&labels(&[
            ("method", "other"),
            ("route", "/healthz"),
            ("status", "405")
        ])],
        "{text}"
    );
    assert_eq!(
        metric_value(
            &text,
            "cubby_http_requests_total",
            &["method=\"other\"", "route=\"/healthz\"", "status=\"405\""]
        ),
        21.0
    );
    let latency = series(&text, "cubby_http_request_duration_seconds_count");
    let healthz: Vec<_> = latency
        .iter()
        .filter(|s| s.get("route").is_some_and(|r| r == "/healthz"))
        .collect();
    assert_eq!(
        healthz,
        vec![&labels(&[("method", "other"), ("route", "/healthz")])],
        "{text}"
    );

    // Twenty different unknown paths: one series.
    let unmatched: Vec<_> = requests
        .iter()
        .filter(|s| s.get("route").is_some_and(|r| r == "unmatched"))
        .collect();
    assert_eq!(
        unmatched,
        vec![&labels(&[
            ("method", "GET"),
            ("route", "unmatched"),
            ("status", "404")
        ])],
        "{text}"
    );
    assert_eq!(
        metric_value(
            &text,
            "cubby_http_requests_total",
            &["route=\"unmatched\"", "status=\"404\""]
        ),
        20.0
    );

    // Every method label comes from the fixed list.
    const METHODS: [&str; 8] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
    ];
    for s in requests.iter().chain(&latency) {
        let method = s.get("method").map(String::as_str).unwrap_or("");
        assert!(METHODS.contains(&method), "{s:?}");
        let status = s.get("status").map(String::as_str).unwrap_or("200");
        assert!(status.parse::<u16>().is_ok(), "{s:?}");
    }
}
