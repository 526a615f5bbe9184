//! Zero-config requests: signatures are not checked, so they are removed before s3s sees the
//! request, and `aws-chunked` bodies are decoded here instead of by s3s.
//!
//! Without `s3.credentials` the front serves every request as the objectstore API does with
//! auth off, *whatever it is signed with*: clients configured with any key (the aws cli,
//! boto3, rclone, `object_store` always sign) must work. s3s cannot verify a signature
//! without the secret, so [`strip_signature`]:
//!
//! 1. removes `Authorization` and the query parameters of pre-signed URLs (SigV4
//!    `X-Amz-*`, SigV2 `AWSAccessKeyId`/`Signature`/`Expires`), keeping every other
//!    parameter as it was;
//! 2. for a `STREAMING-*` `x-amz-content-sha256`, replaces the body by the [`Decoder`] of its
//!    aws-chunked framing (chunk signatures are not checked), sets `content-length` to
//!    `x-amz-decoded-content-length` (required: `MissingContentLength` without it), drops
//!    `aws-chunked` from `content-encoding` and puts the trailers' handle into the request
//!    extensions (checksum trailers are then verified by [`crate::checksum`]).
//!
//! A hex `x-amz-content-sha256` stays and is verified by [`crate::checksum`].

use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use http::{HeaderValue, Request, Uri};
use s3s::{Body, S3Error, S3ErrorCode};

use crate::chunked::{Decoder, OwnTrailers};

/// Query parameters that carry a signature.
const SIGNATURE_PARAMS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// SigV2 query parameters (only when `AWSAccessKeyId` is present: `Expires` alone is not one).
const SIGV2_PARAMS: &[&str] = &["AWSAccessKeyId", "Signature", "Expires"];

fn param_name(pair: &str) -> &str {
    pair.split_once('=').map_or(pair, |(name, _)| name)
}

/// The query without signature parameters, `None` when nothing was removed.
fn strip_query(query: &str) -> Option<String> {
    let pairs: Vec<&str> = query.split('&').collect();
    let v2 = pairs.iter().any(|p| param_name(p) == "AWSAccessKeyId");
    let keep: Vec<&str> = pairs
        .iter()
        .copied()
        .filter(|p| {
            let name = param_name(p);
            !(SIGNATURE_PARAMS.contains(&name) || v2 && SIGV2_PARAMS.contains(&name))
        })
        .collect();
    (keep.len() != pairs.len()).then(|| keep.join("&"))
}

/// Step 1 and 2 of the module docs.
pub fn strip_signature(req: &mut Request<Body>) -> Result<(), S3Error> {
    req.headers_mut().remove(http::header::AUTHORIZATION);
    if let Some(query) = req.uri().query()
        && let Some(kept) = strip_query(query)
    {
        let path = req.uri().path();
        let path_and_query = if kept.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{kept}")
        };
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = Some(
            path_and_query
                .parse()
                .map_err(|_| S3Error::new(S3ErrorCode::InvalidURI))?,
        );
        *req.uri_mut() =
            Uri::from_parts(parts).map_err(|_| S3Error::new(S3ErrorCode::InvalidURI))?;
    }

    let streaming = req
        .headers()
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("STREAMING-"));
    if !streaming {
        return Ok(());
    }
    let decoded = req
        .headers()
        .get("x-amz-decoded-content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::MissingContentLength,
                "an aws-chunked body needs x-amz-decoded-content-length",
            )
        })?;
    let headers = req.headers_mut();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(decoded));
    headers.insert(
        "x-amz-content-sha256",
        HeaderValue::from_static("UNSIGNED-PAYLOAD"),
    );
    if let Some(encoding) = headers.get(CONTENT_ENCODING).and_then(|v| v.to_str().ok()) {
        let rest: Vec<&str> = encoding
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("aws-chunked"))
            .collect();
        if rest.is_empty() {
            headers.remove(CONTENT_ENCODING);
        } else if let Ok(value) = HeaderValue::from_str(&rest.join(", ")) {
            headers.insert(CONTENT_ENCODING, value);
        }
    }
    let trailers = OwnTrailers::default();
    let body = std::mem::take(req.body_mut());
    let decoder = Decoder::new(body, decoded, trailers.clone());
    *req.body_mut() = Body::from(Box::pin(decoder) as s3s::stream::DynByteStream);
    req.extensions_mut().insert(trailers);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_parameters_are_removed_and_others_kept() {
        assert_eq!(
            strip_query("uploadId=abc&X-Amz-Signature=s&X-Amz-Date=d&partNumber=2").as_deref(),
            Some("uploadId=abc&partNumber=2")
        );
        assert_eq!(
            strip_query("AWSAccessKeyId=k&Expires=1&Signature=s").as_deref(),
            Some("")
        );
        // `Expires` without a SigV2 key is someone else's parameter.
        assert_eq!(strip_query("Expires=1&list-type=2"), None);
        assert_eq!(strip_query("uploads"), None);
    }

    #[tokio::test]
    async fn streaming_bodies_are_decoded() {
        let mut req = Request::builder()
            .method("PUT")
            .uri("/bucket/key?X-Amz-Signature=abc")
            .header("authorization", "AWS4-HMAC-SHA256 Credential=x")
            .header("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
            .header("x-amz-decoded-content-length", "3")
            .header("content-encoding", "aws-chunked")
            .body(Body::from(b"3\r\nabc\r\n0\r\n\r\n".to_vec()))
            .unwrap();
        strip_signature(&mut req).unwrap();
        assert!(req.headers().get("authorization").is_none());
        assert!(req.headers().get("content-encoding").is_none());
        assert_eq!(req.headers()["content-length"], "3");
        assert_eq!(req.uri().path_and_query().unwrap().as_str(), "/bucket/key");
        assert!(req.extensions().get::<OwnTrailers>().is_some());
        let body = http_body_util::BodyExt::collect(req.into_body())
            .await
            .unwrap();
        assert_eq!(body.to_bytes().as_ref(), b"abc");
    }

    #[test]
    fn streaming_without_decoded_length_is_refused() {
        let mut req = Request::builder()
            .header("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
            .body(Body::empty())
            .unwrap();
        let err = strip_signature(&mut req).unwrap_err();
        assert_eq!(*err.code(), S3ErrorCode::MissingContentLength);
    }
}
