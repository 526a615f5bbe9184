use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Yaml};
use serde::Deserialize;

use crate::admission::{
    BandwidthConfig, Killswitch, RateLimitsConfig, ThroughputConfig, ThroughputRule, UsecasesConfig,
};

/// The three sections as the server's top-level config embeds them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Sections {
    killswitches: Vec<Killswitch>,
    rate_limits: RateLimitsConfig,
    usecases: UsecasesConfig,
}

fn load(yaml: &str) -> Sections {
    Figment::from(Yaml::string(yaml)).extract().unwrap()
}

#[test]
fn defaults() {
    let s = load("unrelated: 1");
    assert!(s.killswitches.is_empty());
    assert_eq!(s.rate_limits, RateLimitsConfig::default());
    assert_eq!(s.rate_limits.bandwidth.burst_ms, 1000);
    assert!(!s.rate_limits.bandwidth.report_only);
    assert_eq!(s.rate_limits.throughput.burst, 0);
    assert!(s.usecases.0.is_empty());
}

#[test]
fn reference_keys() {
    let s = load(
        r#"
killswitches:
  - usecase: attachments
    scopes: { org: "123" }
    service: "getsentry-*"
  - {}
rate_limits:
  throughput:
    global_rps: 1000
    burst: 50
    usecase_pct: 50
    scope_pct: 10
    rules:
      - usecase: attachments
        scopes: [["org", "1"]]
        rps: 5
      - scopes: []
        pct: 20
  bandwidth:
    global_bps: 1000000
    burst_ms: 250
    usecase_pct: 80
    report_only: true
usecases:
  attachments:
    expiration:
      manual: { allowed: false }
      ttl: { max: 30d }
      tti: { allowed: false }
      max: 90d
  debug-files:
    expiration:
      max: "1h 30m"
"#,
    );
    assert_eq!(s.killswitches.len(), 2);
    assert_eq!(s.killswitches[0].usecase.as_deref(), Some("attachments"));
    assert_eq!(s.killswitches[0].scopes["org"], "123");
    assert_eq!(s.killswitches[0].service.as_deref(), Some("getsentry-*"));
    assert_eq!(s.killswitches[1], Killswitch::default());
    assert_eq!(
        s.rate_limits.throughput,
        ThroughputConfig {
            global_rps: Some(1000),
            burst: 50,
            usecase_pct: Some(50),
            scope_pct: Some(10),
            rules: vec![
                ThroughputRule {
                    usecase: Some("attachments".into()),
                    scopes: vec![("org".into(), "1".into())],
                    rps: Some(5),
                    pct: None,
                },
                ThroughputRule {
                    usecase: None,
                    scopes: vec![],
                    rps: None,
                    pct: Some(20),
                },
            ],
        }
    );
    assert_eq!(
        s.rate_limits.bandwidth,
        BandwidthConfig {
            global_bps: Some(1_000_000),
            burst_ms: 250,
            usecase_pct: Some(80),
            scope_pct: None,
            report_only: true,
        }
    );
    assert_eq!(s.rate_limits.validate(), Ok(()));
    let attachments = &s.usecases.0["attachments"].expiration;
    assert!(!attachments.manual.allowed);
    assert!(attachments.ttl.allowed);
    assert!(!attachments.tti.allowed);
    assert_eq!(attachments.ttl.max, Some(Duration::from_secs(30 * 86_400)));
    assert_eq!(attachments.max, Some(Duration::from_secs(90 * 86_400)));
    assert_eq!(
        s.usecases.0["debug-files"].expiration.max,
        Some(Duration::from_secs(5400))
    );
}

#[test]
fn numeric_scope_values_are_accepted_as_text() {
    let s = load(
        "killswitches: [ { scopes: { org: 123, flag: true } } ]\n\
         rate_limits: { throughput: { rules: [ { scopes: [[org, 42]], rps: 1 } ] } }",
    );
    assert_eq!(s.killswitches[0].scopes["org"], "123");
    assert_eq!(s.killswitches[0].scopes["flag"], "true");
    assert_eq!(
        s.rate_limits.throughput.rules[0].scopes,
        vec![("org".to_owned(), "42".to_owned())]
    );
}

#[test]
fn a_rule_needs_its_scopes_list() {
    let err = Figment::from(Yaml::string(
        "rate_limits: { throughput: { rules: [ { usecase: a, rps: 1 } ] } }",
    ))
    .extract::<Sections>()
    .unwrap_err();
    assert!(err.to_string().contains("scopes"), "{err}");
}

/// Env vars are parsed by figment as TOML-like literals (docs/http-api.md §15.2); this is the value
/// `OS__KILLSWITCHES=...` / `OS__RATE_LIMITS__THROUGHPUT__RULES=...` would produce.
#[test]
fn env_literal_forms() {
    use figment::providers::Serialized;
    use figment::value::Value;

    let switches: Value = r#"[{usecase="attachments",scopes={org=123}},{service="web-*"}]"#
        .parse()
        .unwrap();
    let rules: Value = r#"[{usecase="a",scopes=[["org","1"]],rps=5}]"#.parse().unwrap();
    let s: Sections = Figment::new()
        .merge(Serialized::default("killswitches", switches))
        .merge(Serialized::default("rate_limits.throughput.rules", rules))
        .merge(Serialized::default(
            "usecases",
            r#"{att={expiration={max="90d",manual={allowed=false}}}}"#
                .parse::<Value>()
                .unwrap(),
        ))
        .extract()
        .unwrap();
    assert_eq!(s.killswitches.len(), 2);
    assert_eq!(s.killswitches[0].scopes["org"], "123");
    assert_eq!(s.killswitches[1].service.as_deref(), Some("web-*"));
    assert_eq!(s.rate_limits.throughput.rules[0].rps, Some(5));
    let att = &s.usecases.0["att"].expiration;
    assert_eq!(att.max, Some(Duration::from_secs(90 * 86_400)));
    assert!(!att.manual.allowed);
}
