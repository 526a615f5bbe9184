//! The standard headers (`content-language`, `cache-control`, `expires`), the fields only
//! another API or the engine sets (`etag`, a verbatim `content-encoding` or
//! `content-disposition`), and reading metadata stored before they existed.

use proptest::prelude::*;

use super::tests::headers;
use super::*;

#[test]
fn standard_headers_are_read_verbatim() {
    let m = Metadata::from_headers(&headers(&[
        ("content-language", "de-CH, en"),
        ("cache-control", "public, max-age=3600"),
        ("expires", "Wed, 21 Oct 2026 07:28:00 GMT"),
    ]))
    .unwrap();
    assert_eq!(m.content_language.as_deref(), Some("de-CH, en"));
    assert_eq!(m.cache_control.as_deref(), Some("public, max-age=3600"));
    assert_eq!(m.expires.as_deref(), Some("Wed, 21 Oct 2026 07:28:00 GMT"));
    let h = m.to_headers();
    assert_eq!(h["content-language"], "de-CH, en");
    assert_eq!(h["cache-control"], "public, max-age=3600");
    assert_eq!(h["expires"], "Wed, 21 Oct 2026 07:28:00 GMT");
}

#[test]
fn server_and_other_api_fields_are_not_read() {
    let m = Metadata::from_headers(&headers(&[
        ("etag", "\"9e107d9d372bb6826bd81d3542a419d6\""),
        ("content-disposition", "form-data; name=part"),
    ]))
    .unwrap();
    assert_eq!(m, Metadata::default());
}

#[test]
fn a_non_ascii_standard_header_is_refused() {
    let mut h = HeaderMap::new();
    h.insert(
        "content-language",
        HeaderValue::from_bytes("dé".as_bytes()).unwrap(),
    );
    assert_eq!(
        Metadata::from_headers(&h).unwrap_err().header,
        "content-language"
    );
}

#[test]
fn etag_is_written_quoted_and_only_when_stored() {
    let written = |etag: &str| {
        let m = Metadata {
            etag: Some(etag.into()),
            ..Metadata::default()
        };
        m.to_headers()["etag"].clone()
    };
    assert_eq!(
        written("9e107d9d372bb6826bd81d3542a419d6"),
        "\"9e107d9d372bb6826bd81d3542a419d6\""
    );
    assert_eq!(
        written("d41d8cd98f00b204e9800998ecf8427e-3"),
        "\"d41d8cd98f00b204e9800998ecf8427e-3\""
    );
    assert!(!Metadata::default().to_headers().contains_key("etag"));
}

#[test]
fn content_encoding_maps_compressions_and_keeps_the_rest() {
    let mut m = Metadata::default();
    m.set_content_encoding("gzip");
    assert_eq!(
        (m.compression, m.content_encoding.as_deref()),
        (Some(Compression::Gzip), None)
    );
    m.set_content_encoding("br");
    assert_eq!(
        (m.compression, m.content_encoding.as_deref()),
        (None, Some("br"))
    );
    assert_eq!(m.to_headers()["content-encoding"], "br");
    m.set_content_encoding("zstd");
    assert_eq!(m.content_encoding_header(), Some("zstd"));
    assert_eq!(m.content_encoding, None);
}

#[test]
fn a_stored_disposition_wins_over_the_derived_one() {
    let mut m = Metadata {
        filename: Some("a.txt".into()),
        ..Metadata::default()
    };
    assert_eq!(
        m.to_headers()["content-disposition"],
        "attachment; filename=\"a.txt\""
    );
    m.content_disposition = Some("inline".into());
    let h = m.to_headers();
    assert_eq!(h["content-disposition"], "inline");
    assert_eq!(h["x-sn-filename"], "a.txt");
    m.filename = None;
    assert_eq!(m.to_headers()["content-disposition"], "inline");
}

#[test]
fn metadata_stored_before_the_new_fields_reads_with_none() {
    let old = r#"{"content_type":"text/plain","expiration_policy":{"kind":"manual"},"size":5}"#;
    let m: Metadata = serde_json::from_str(old).unwrap();
    assert_eq!((m.etag, m.content_encoding), (None, None));
    assert_eq!((m.content_disposition, m.content_language), (None, None));
    assert_eq!((m.cache_control, m.expires), (None, None));
    assert_eq!(m.crc32c, None);
    assert_eq!(m.size, Some(5));
    let json = serde_json::to_string(&Metadata::default()).unwrap();
    for field in ["etag", "content_encoding", "cache_control", "expires"] {
        assert!(
            !json.contains(field),
            "{field} serialized while None: {json}"
        );
    }
}

fn token() -> impl Strategy<Value = String> {
    "[ -~]{0,3}[!-~]{1,20}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, rng_seed: proptest::test_runner::RngSeed::Fixed(14), ..ProptestConfig::default() })]

    #[test]
    fn standard_headers_round_trip(
        language in proptest::option::of(token()),
        cache in proptest::option::of(token()),
        expires in proptest::option::of(token()),
    ) {
        let m = Metadata {
            content_language: language,
            cache_control: cache,
            expires,
            ..Metadata::default()
        };
        prop_assert_eq!(Metadata::from_headers(&m.to_headers()).unwrap(), m);
    }

    #[test]
    fn storage_json_round_trips_every_new_field(
        etag in proptest::option::of("[0-9a-f]{32}(-[1-9][0-9]{0,3})?"),
        encoding in proptest::option::of(token()),
        disposition in proptest::option::of(token()),
        language in proptest::option::of(token()),
    ) {
        let m = Metadata {
            etag,
            content_encoding: encoding,
            content_disposition: disposition,
            content_language: language,
            cache_control: Some("no-store".into()),
            expires: Some("0".into()),
            ..Metadata::default()
        };
        let json = serde_json::to_string(&m).unwrap();
        prop_assert_eq!(serde_json::from_str::<Metadata>(&json).unwrap(), m);
    }
}
