//! Metadata both ways, and the ETag's properties.

use std::time::Duration;

use proptest::prelude::*;

use super::*;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn s3_fields_and_objectstore_headers_become_metadata() {
    let custom: HashMap<String, String> = [("owner".to_owned(), "Zoë".to_owned())].into();
    let fields = WriteFields {
        content_type: Some("text/plain; charset=utf-8"),
        content_encoding: Some("aws-chunked, gzip"),
        metadata: Some(&custom),
        ..WriteFields::default()
    };
    let h = headers(&[("x-sn-expiration", "ttl:1h"), ("x-sn-origin", "10.0.0.1")]);
    let m = fields.into_metadata(&h).unwrap();
    assert_eq!(m.content_type, "text/plain; charset=utf-8");
    assert_eq!(m.compression, Some(Compression::Gzip));
    assert_eq!(
        m.expiration_policy,
        ExpirationPolicy::TimeToLive(Duration::from_secs(3600))
    );
    assert_eq!(m.origin.as_deref(), Some("10.0.0.1"));
    assert_eq!(m.custom["owner"], "Zoë");
}

#[test]
fn the_standard_headers_are_stored_verbatim_and_returned() {
    let h = headers(&[("expires", "Thu, 01 Dec 2044 16:00:00 GMT")]);
    let fields = WriteFields {
        content_language: Some("de-CH"),
        cache_control: Some("max-age=60, public"),
        expires: true,
        content_encoding: Some("aws-chunked, br"),
        content_disposition: Some("inline"),
        ..WriteFields::default()
    };
    let m = fields.into_metadata(&h).unwrap();
    assert_eq!(m.content_language.as_deref(), Some("de-CH"));
    assert_eq!(m.cache_control.as_deref(), Some("max-age=60, public"));
    assert_eq!(m.expires.as_deref(), Some("Thu, 01 Dec 2044 16:00:00 GMT"));
    assert_eq!(m.compression, None);
    assert_eq!(
        m.content_encoding.as_deref(),
        Some("br"),
        "aws-chunked removed"
    );
    assert_eq!(m.content_disposition.as_deref(), Some("inline"));
    assert_eq!(m.filename, None);
    let out = ObjectHeaders::of(&m);
    assert_eq!(out.content_language.as_deref(), Some("de-CH"));
    assert_eq!(out.cache_control.as_deref(), Some("max-age=60, public"));
    assert_eq!(out.content_encoding.as_deref(), Some("br"));
    assert_eq!(out.content_disposition.as_deref(), Some("inline"));
    assert_eq!(out.extra["expires"], "Thu, 01 Dec 2044 16:00:00 GMT");
    // Several encodings stay one verbatim value.
    let both = WriteFields {
        content_encoding: Some("gzip, br"),
        ..WriteFields::default()
    };
    let m = both.into_metadata(&HeaderMap::new()).unwrap();
    assert_eq!(
        (m.compression, m.content_encoding.as_deref()),
        (None, Some("gzip, br"))
    );

    let h = HeaderMap::new();
    let bad = WriteFields {
        content_type: Some("not a type"),
        ..WriteFields::default()
    };
    assert_eq!(
        *bad.into_metadata(&h).unwrap_err().code(),
        s3s::S3ErrorCode::InvalidArgument
    );
    let bad_policy = headers(&[("x-sn-expiration", "ttl:")]);
    assert!(WriteFields::default().into_metadata(&bad_policy).is_err());
}

#[test]
fn attachment_dispositions_round_trip_through_the_filename() {
    for name in ["report.pdf", "a \"quoted\" name.txt", "réport 📄.pdf"] {
        let header = content_disposition(name).unwrap();
        let header = header.to_str().unwrap();
        let fields = WriteFields {
            content_disposition: Some(header),
            ..WriteFields::default()
        };
        let m = fields.into_metadata(&HeaderMap::new()).unwrap();
        assert_eq!(m.filename.as_deref(), Some(name));
        assert_eq!(
            ObjectHeaders::of(&m).content_disposition.as_deref(),
            Some(header)
        );
    }
}

#[test]
fn responses_carry_every_stored_field() {
    let mut m = Metadata {
        compression: Some(Compression::Zstd),
        expiration_policy: ExpirationPolicy::TimeToIdle(Duration::from_secs(60)),
        origin: Some("host".into()),
        size: Some(12),
        ..Metadata::default()
    };
    m.custom.insert("k".into(), "v".into());
    m.stamp(time::from_unix_secs(1_700_000_000));
    let h = ObjectHeaders::of(&m);
    assert_eq!(h.size, 12);
    assert_eq!(h.content_encoding.as_deref(), Some("zstd"));
    assert_eq!(h.metadata.unwrap()["k"], "v");
    assert_eq!(h.extra["x-sn-expiration"], "tti:1m");
    assert!(h.extra.contains_key("x-sn-time-expires"));
    assert!(h.last_modified.is_some());
}

#[test]
fn etags_never_look_like_an_md5() {
    let value = etag(&Metadata::default()).into_value();
    assert!(value.ends_with("-0"), "{value}");
    assert_eq!(value.len(), 34);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        rng_seed: proptest::test_runner::RngSeed::Fixed(5),
        ..ProptestConfig::default()
    })]

    /// The ETag changes with what a write sets, and not with a TTI bump of the deadline.
    #[test]
    fn etag_tracks_the_revision(size in 0u64..1000, secs in 1u64..4_000_000_000, other in 0u64..1000, bump in 1u64..100_000) {
        let mut m = Metadata { size: Some(size), ..Metadata::default() };
        m.stamp(time::from_unix_secs(secs));
        let base = etag(&m);
        let mut bumped = m.clone();
        bumped.time_expires = Some(time::from_unix_secs(secs + bump));
        prop_assert_eq!(&etag(&bumped), &base, "a TTI bump keeps the ETag");
        if other != size {
            let resized = Metadata { size: Some(other), ..m.clone() };
            prop_assert_ne!(&etag(&resized), &base, "a new size is a new ETag");
        }
        let mut later = m.clone();
        later.time_created = Some(time::from_unix_secs(secs + 1));
        prop_assert_ne!(&etag(&later), &base);
    }
}
