//! Checksum verification: matching bodies pass unchanged, mismatching ones end in an error
//! instead of their end, malformed values are refused up front.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::StreamExt as _;
use http::{HeaderMap, HeaderValue};
use objectstore_service::stream::{PayloadStream, read_to_vec};

use super::*;

const BODY: &[u8] = b"hello, checksummed world";

fn body() -> PayloadStream {
    futures::stream::iter(
        BODY.chunks(5)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    )
    .boxed()
}

fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

async fn run(h: &HeaderMap) -> Result<(Vec<u8>, Computed), BodyError> {
    let expected = Expected::from_headers(h, None, true).expect("valid headers");
    let (stream, handle) = verify(body(), expected);
    match read_to_vec(stream).await {
        Ok(bytes) => Ok((bytes, handle.get())),
        Err(e) => Err(BodyError::classify(e.get_ref().expect("typed error"))),
    }
}

#[tokio::test]
async fn matching_checksums_pass_and_are_reported() {
    let crc = Crc32::checksum(BODY);
    let md5 = Md5::checksum(BODY);
    let h = headers(&[
        ("x-amz-checksum-crc32", b64(&crc)),
        ("content-md5", b64(md5.as_ref())),
        ("x-amz-content-sha256", hex::encode(Sha256::checksum(BODY))),
    ]);
    let (bytes, computed) = run(&h).await.unwrap();
    assert_eq!(bytes, BODY);
    assert_eq!(computed.get(Algorithm::Crc32), Some(b64(&crc)));
}

#[tokio::test]
async fn every_algorithm_detects_a_changed_body() {
    let wrong: &[u8] = b"another body";
    let cases: [(&'static str, Vec<u8>); 5] = [
        ("x-amz-checksum-crc32", Crc32::checksum(wrong).to_vec()),
        ("x-amz-checksum-crc32c", Crc32c::checksum(wrong).to_vec()),
        (
            "x-amz-checksum-crc64nvme",
            Crc64Nvme::checksum(wrong).to_vec(),
        ),
        ("x-amz-checksum-sha1", Sha1::checksum(wrong).to_vec()),
        ("x-amz-checksum-sha256", Sha256::checksum(wrong).to_vec()),
    ];
    for (name, digest) in cases {
        let err = run(&headers(&[(name, b64(&digest))])).await.unwrap_err();
        assert!(
            matches!(err, BodyError::ChecksumMismatch { header, .. } if header == name),
            "{name}"
        );
    }
    let err = run(&headers(&[(
        "content-md5",
        b64(Md5::checksum(wrong).as_ref()),
    )]))
    .await
    .unwrap_err();
    assert!(matches!(
        err,
        BodyError::ChecksumMismatch {
            algorithm: "MD5",
            ..
        }
    ));
    let err = run(&headers(&[(
        "x-amz-content-sha256",
        hex::encode(Sha256::checksum(wrong)),
    )]))
    .await
    .unwrap_err();
    assert!(matches!(err, BodyError::Sha256Mismatch));
}

#[tokio::test]
async fn trailers_are_compared_at_the_end() {
    let trailers = OwnTrailers::default();
    let h = headers(&[("x-amz-trailer", "x-amz-checksum-crc32c".into())]);
    let expected =
        Expected::from_headers(&h, Some(Trailers::Own(trailers.clone())), false).unwrap();
    let (stream, handle) = verify(body(), expected.clone());
    let mut trailer_map = HeaderMap::new();
    trailer_map.insert(
        "x-amz-checksum-crc32c",
        HeaderValue::from_str(&b64(&Crc32c::checksum(BODY))).unwrap(),
    );
    trailers.set(trailer_map);
    assert_eq!(read_to_vec(stream).await.unwrap(), BODY);
    assert!(handle.get().get(Algorithm::Crc32c).is_some());

    // A trailer that never arrived: the body is incomplete.
    let (stream, _) = verify(
        body(),
        Expected::from_headers(&h, Some(Trailers::Own(OwnTrailers::default())), false).unwrap(),
    );
    let err = read_to_vec(stream).await.unwrap_err();
    assert!(matches!(
        BodyError::classify(err.get_ref().unwrap()),
        BodyError::Incomplete(_)
    ));
}

#[test]
fn malformed_values_are_refused_before_reading() {
    for (name, value) in [
        ("content-md5", "not base64!"),
        ("content-md5", "AAAA"),
        ("x-amz-checksum-crc32", "AAAAAAAA"),
        ("x-amz-checksum-sha256", "%%%"),
    ] {
        let err =
            Expected::from_headers(&headers(&[(name, value.into())]), None, false).unwrap_err();
        assert_eq!(*err.code(), S3ErrorCode::InvalidDigest, "{name}: {value}");
    }
    let two = headers(&[
        ("x-amz-checksum-crc32", b64(&Crc32::checksum(BODY))),
        ("x-amz-checksum-sha1", b64(&Sha1::checksum(BODY))),
    ]);
    assert_eq!(
        *Expected::from_headers(&two, None, false)
            .unwrap_err()
            .code(),
        S3ErrorCode::InvalidRequest
    );
    let odd_trailer = headers(&[("x-amz-trailer", "x-amz-meta-foo".into())]);
    assert!(Expected::from_headers(&odd_trailer, None, false).is_err());
}
