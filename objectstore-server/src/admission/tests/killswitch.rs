use std::collections::BTreeMap;

use axum::response::IntoResponse;
use http::StatusCode;
use objectstore_types::ObjectContext;

use super::{ctx, plain_text};
use crate::admission::killswitch::{DOWNSTREAM_SERVICE_HEADER, normalize_service};
use crate::admission::rejection::KILLSWITCHED_TEXT;
use crate::admission::{Killswitch, Killswitches, Rejection, downstream_service};

fn switch(usecase: Option<&str>, scopes: &[(&str, &str)], service: Option<&str>) -> Killswitch {
    Killswitch {
        usecase: usecase.map(str::to_owned),
        scopes: scopes
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        service: service.map(str::to_owned),
    }
}

#[test]
fn pod_suffixes_are_stripped() {
    for (raw, want) in [
        (
            "getsentry-incinerator-7d8f9c5b6d-abc12",
            "getsentry-incinerator",
        ),
        ("web-12", "web"),
        ("web-0", "web"),
        ("service-7d8f9c5b6d-abcde", "service"),
        ("a-b-7d8f9c5-abc12", "a-b"),    // 7-char hash
        ("app-7d8f9c5b6d-12345", "app"), // digit-only pod suffix is still a pod suffix
        ("relay", "relay"),
        ("my-service", "my-service"),
        ("getsentry-incinerator", "getsentry-incinerator"),
        ("my-svc-7d8f9c5b6d-ABC12", "my-svc-7d8f9c5b6d-ABC12"), // uppercase
        ("svc-123abc-abcde", "svc-123abc-abcde"),               // 6-char hash
        ("svc-12345678abc-abcde", "svc-12345678abc-abcde"),     // 11-char hash
        ("-7d8f9c5b6d-abcde", "-7d8f9c5b6d-abcde"),             // nothing before the hash
        ("svc-abcd", "svc-abcd"),                               // 4-char suffix, not digits
        ("12", "12"),
        ("-12", "-12"),
        ("web-", "web-"),
        ("", ""),
    ] {
        assert_eq!(normalize_service(raw), want, "{raw:?}");
    }
}

#[test]
fn matching_table() {
    let org1 = ctx("attachments", "org=1;project=2");
    let org2 = ctx("attachments", "org=2;project=2");
    let other = ctx("debug-files", "org=1");
    let none = ctx("attachments", "_");
    let pod = Some("getsentry-incinerator-7d8f9c5b6d-abc12");

    /// A request (context, `x-downstream-service`) and whether the entry matches it.
    type Case<'a> = (&'a ObjectContext, Option<&'a str>, bool);
    #[rustfmt::skip]
    let cases: &[(Killswitch, &[Case<'_>])] = &[
        // Empty entry: everything, with or without a service header.
        (switch(None, &[], None), &[(&org1, None, true), (&other, pod, true), (&none, None, true)]),
        // Usecase: exact equality.
        (switch(Some("attachments"), &[], None), &[(&org1, None, true), (&other, None, false)]),
        // Scopes: listed ones must be present and equal; extra request scopes ignored.
        (switch(None, &[("org", "1")], None), &[(&org1, None, true), (&other, None, true), (&org2, None, false), (&none, None, false)]),
        (switch(None, &[("org", "1"), ("project", "2")], None), &[(&org1, None, true), (&other, None, false)]),
        // Service: glob over the normalized header; no header never matches.
        (switch(None, &[], Some("getsentry-*")), &[(&org1, pod, true), (&org1, Some("getsentry-web"), true), (&org1, Some("relay"), false), (&org1, None, false)]),
        (switch(None, &[], Some("getsentry-incinerator")), &[(&org1, pod, true), (&org1, Some("getsentry-incinerator-2"), true), (&org1, Some("getsentry-incinerator-x"), false)]),
        (switch(None, &[], Some("web")), &[(&org1, Some("web-12"), true), (&org1, Some("web"), true), (&org1, Some("web-x"), false)]),
        // Invalid glob: never matches, not even its own text.
        (switch(None, &[], Some("[invalid")), &[(&org1, Some("[invalid"), false), (&org1, Some("anything"), false), (&org1, None, false)]),
        // All conditions together.
        (switch(Some("attachments"), &[("org", "1")], Some("getsentry-*")), &[(&org1, pod, true), (&org2, pod, false), (&other, pod, false), (&org1, Some("relay"), false)]),
    ];
    for (entry, requests) in cases {
        let switches = Killswitches::new(vec![entry.clone()]);
        for (context, service, want) in *requests {
            let got = switches.find(context, *service).is_some();
            assert_eq!(got, *want, "{entry:?} vs {context:?} service {service:?}");
            assert_eq!(
                switches.check(context, *service),
                if *want {
                    Err(Rejection::Killswitched)
                } else {
                    Ok(())
                }
            );
        }
    }
}

#[test]
fn the_header_is_read_raw_and_normalized_when_matching() {
    let mut headers = http::HeaderMap::new();
    assert_eq!(downstream_service(&headers), None);
    headers.insert(
        DOWNSTREAM_SERVICE_HEADER,
        http::HeaderValue::from_static("web-12"),
    );
    assert_eq!(downstream_service(&headers), Some("web-12"));
    let switches = Killswitches::new(vec![switch(None, &[], Some("web"))]);
    assert!(
        switches
            .find(&ctx("aaa", "_"), downstream_service(&headers))
            .is_some()
    );
}

#[test]
fn entries_are_ored_and_first_match_is_reported() {
    let switches = Killswitches::new(vec![
        switch(Some("attachments"), &[], None),
        switch(None, &[("org", "7")], None),
        switch(None, &[], Some("relay")),
    ]);
    assert_eq!(
        switches.find(&ctx("attachments", "org=7"), None),
        Some(switch(Some("attachments"), &[], None))
    );
    assert!(switches.find(&ctx("other", "org=7"), None).is_some());
    assert!(
        switches
            .find(&ctx("other", "org=1"), Some("relay-5"))
            .is_some()
    );
    assert!(switches.find(&ctx("other", "org=1"), Some("web")).is_none());
    assert!(
        Killswitches::new(vec![])
            .find(&ctx("other", "_"), None)
            .is_none()
    );
}

#[test]
fn replace_swaps_the_active_list() {
    let switches = Killswitches::default();
    let request = ctx("attachments", "org=1");
    assert_eq!(switches.check(&request, None), Ok(()));
    switches.replace(vec![switch(Some("attachments"), &[], None)]);
    assert_eq!(switches.check(&request, None), Err(Rejection::Killswitched));
    assert_eq!(
        switches.list(),
        vec![switch(Some("attachments"), &[], None)]
    );
    switches.replace(vec![switch(Some("other"), &[], None)]);
    assert_eq!(switches.check(&request, None), Ok(()));
}

#[tokio::test]
async fn rejection_is_403_plain_text() {
    let response = Rejection::Killswitched.into_response();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(http::header::RETRY_AFTER).is_none());
    assert_eq!(plain_text(response).await, KILLSWITCHED_TEXT);
    assert_eq!(
        KILLSWITCHED_TEXT,
        "Object access is disabled for this scope through killswitches"
    );
}

/// The examples of `normalize_service`'s docs (a doctest while the function was public).
#[test]
fn normalize_service_doc_examples() {
    assert_eq!(
        normalize_service("getsentry-incinerator-7d8f9c5b6d-abc12"),
        "getsentry-incinerator"
    );
    assert_eq!(normalize_service("web-12"), "web");
    assert_eq!(normalize_service("relay"), "relay");
}
