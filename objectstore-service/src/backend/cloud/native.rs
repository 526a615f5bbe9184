//! The two store requests `object_store`'s `MultipartStore` cannot express, sent as signed
//! URLs (the store's own credentials sign them through `object_store`'s `Signer`) over an
//! HTTP client built from the same [`ClientOptions`](object_store::ClientOptions):
//!
//! * **S3 / GCS: completion with explicit part numbers.** `complete_multipart` numbers the
//!   listed parts `1..=n`, so it can only assemble parts uploaded as numbers `1..=n`. When
//!   the client completes another selection (e.g. parts 1 and 3 of 1, 2, 3), the backend
//!   sends `CompleteMultipartUpload` itself, with the real numbers.
//! * **Azure: committing the block list with the blob's metadata.** `object_store`'s Azure
//!   `complete_multipart` commits without attributes, which would lose the object's
//!   metadata; the backend sends `Put Block List` with the metadata headers itself.
//!
//! Both requests are idempotent and retried like `object_store`'s own (module docs of
//! [`super::config`]): on transport errors, timeouts, 5xx, 429 and S3's
//! `200 OK` + `InternalError`/`SlowDown` body, with exponential backoff, within
//! `max_retries` and `retry_timeout`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use object_store::client::{HttpClient, HttpRequestBody};
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::signer::Signer;
use rand::Rng;

use super::config::ClientSettings;
use crate::backend::CompleteRejection;
use crate::error::{BoxError, Error, Result};

/// The Azure REST API version of our own requests (the one `object_store` uses).
const AZURE_VERSION: &str = "2023-11-03";

/// Which protocol the store speaks.
#[allow(
    dead_code,
    reason = "which variants are constructed depends on the enabled store features"
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Amazon S3 and S3-compatible stores.
    S3,
    /// Google Cloud Storage (XML multipart API, S3-like).
    Gcs,
    /// Azure Blob Storage (block blobs).
    Azure,
}

/// What a store did with an assembly request.
#[derive(Debug)]
pub(crate) enum Assembled {
    /// The object is stored.
    Done,
    /// The store refused the parts (nothing changed).
    Rejected(CompleteRejection),
    /// The store does not know the upload (ended, or completed by an earlier attempt).
    NoSuchUpload,
}

/// The store's native multipart abilities.
#[derive(Clone)]
pub(crate) struct Native {
    pub flavor: Flavor,
    pub multipart: Arc<dyn MultipartStore>,
    pub signer: Arc<dyn Signer>,
    pub http: HttpClient,
    pub settings: ClientSettings,
    /// The backend's name, for errors.
    pub name: &'static str,
}

impl std::fmt::Debug for Native {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Native")
            .field("flavor", &self.flavor)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

/// Store error codes that mean "these parts cannot be assembled" (a client mistake).
const REJECTION_CODES: &[&str] = &[
    "InvalidPart",
    "InvalidPartOrder",
    "EntityTooSmall",
    "InvalidBlockList",
    "InvalidArgument",
];

impl Native {
    /// S3/GCS: completes `native_id` at `path` with the parts `(number, native etag)`.
    pub(crate) async fn complete_numbered(
        &self,
        path: &Path,
        native_id: &str,
        parts: &[(u32, &str)],
    ) -> Result<Assembled> {
        let mut body = String::from("<CompleteMultipartUpload>");
        for (number, etag) in parts {
            body.push_str(&format!(
                "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>",
                xml_escape(etag)
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        let options =
            object_store::signer::SignedUrlOptions::new().with_query([("uploadId", native_id)]);
        self.send(
            "complete multipart upload",
            Method::POST,
            path,
            &[],
            body,
            |signer, exp| {
                let options = options.clone();
                let path = path.clone();
                async move {
                    signer
                        .signed_url_opts(Method::POST, &path, exp, &options)
                        .await
                }
            },
        )
        .await
    }

    /// Azure: commits `blocks` (native block ids, in order) as the blob at `path`, with
    /// `headers` (content type and metadata).
    pub(crate) async fn put_block_list(
        &self,
        path: &Path,
        blocks: &[&str],
        content_type: &str,
        meta_header: (&str, &str),
    ) -> Result<Assembled> {
        let mut body = String::from(r#"<?xml version="1.0" encoding="utf-8"?><BlockList>"#);
        for block in blocks {
            body.push_str(&format!("<Latest>{}</Latest>", STANDARD.encode(block)));
        }
        body.push_str("</BlockList>");
        let meta_name = format!("x-ms-meta-{}", meta_header.0);
        let headers = [
            ("x-ms-version", AZURE_VERSION),
            ("x-ms-blob-content-type", content_type),
            (meta_name.as_str(), meta_header.1),
        ];
        self.send(
            "commit block list",
            Method::PUT,
            path,
            &headers,
            body,
            |signer, exp| {
                let path = path.clone();
                async move {
                    let mut url = signer.signed_url(Method::PUT, &path, exp).await?;
                    url.query_pairs_mut().append_pair("comp", "blocklist");
                    Ok(url)
                }
            },
        )
        .await
    }

    /// Sends one request with retries; `sign` produces a fresh signed URL per attempt.
    async fn send<F, Fut>(
        &self,
        operation: &'static str,
        method: Method,
        path: &Path,
        headers: &[(&str, &str)],
        body: String,
        sign: F,
    ) -> Result<Assembled>
    where
        F: Fn(Arc<dyn Signer>, Duration) -> Fut,
        Fut: Future<Output = object_store::Result<object_store::signer::Url>>,
    {
        let body = Bytes::from(body);
        let started = Instant::now();
        let validity = self.settings.retry_timeout + self.settings.request_timeout * 2;
        let mut attempt = 0;
        loop {
            let url = sign(self.signer.clone(), validity)
                .await
                .map_err(|e| Error::backend(self.name, operation, e))?;
            let mut request = Request::builder().method(method.clone()).uri(url.as_str());
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let request = request
                .header("content-length", body.len())
                .body(HttpRequestBody::from(body.clone()))
                .map_err(|e| Error::backend(self.name, operation, e))?;
            let failure: BoxError = match self.http.execute(request).await {
                Ok(response) => {
                    let status = response.status();
                    match response.into_body().bytes().await {
                        Ok(text) => match classify(status, &text) {
                            Outcome::Final(result) => {
                                return result.map_err(|e| {
                                    Error::backend(self.name, operation, format!("{path}: {e}"))
                                });
                            }
                            Outcome::Retry(why) => why.into(),
                        },
                        Err(e) => e.into(),
                    }
                }
                Err(e) => e.into(),
            };
            attempt += 1;
            if attempt > self.settings.max_retries
                || started.elapsed() >= self.settings.retry_timeout
            {
                return Err(Error::backend(self.name, operation, failure));
            }
            tracing::debug!(operation, %path, attempt, error = %failure, "retrying");
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }

    /// The delay before retry `attempt` (1-based): exponential, capped, with full jitter.
    fn backoff(&self, attempt: usize) -> Duration {
        let s = &self.settings;
        let exp = s
            .backoff_base
            .powi(attempt.saturating_sub(1).min(64) as i32);
        let cap = s.backoff_initial.mul_f64(exp).min(s.backoff_max);
        cap.mul_f64(rand::rng().random_range(0.5..=1.0))
    }
}

enum Outcome {
    Final(std::result::Result<Assembled, String>),
    Retry(String),
}

/// Interprets a store's answer to an assembly request.
fn classify(status: StatusCode, body: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(body);
    let code = xml_element(&text, "Code");
    let message = xml_element(&text, "Message").unwrap_or_default();
    let error_body = text.contains("<Error>");
    if status.is_success() && !error_body {
        return Outcome::Final(Ok(Assembled::Done));
    }
    let code = code.unwrap_or_default();
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_success() && matches!(code.as_str(), "InternalError" | "SlowDown"))
    {
        return Outcome::Retry(format!("{status} {code}: {message}"));
    }
    if code == "NoSuchUpload" {
        return Outcome::Final(Ok(Assembled::NoSuchUpload));
    }
    if REJECTION_CODES.contains(&code.as_str()) {
        let message = if message.is_empty() {
            format!("the store refused the parts ({code})")
        } else {
            message
        };
        return Outcome::Final(Ok(Assembled::Rejected(CompleteRejection { code, message })));
    }
    Outcome::Final(Err(format!("{status} {code}: {message}")))
}

/// The unescaped text of the first `<tag>…</tag>` in `xml`.
pub(crate) fn xml_element(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(xml_unescape(&xml[start..end]))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// An error code and message found in a store error's text (S3 and Azure XML bodies), for
/// turning a failed `complete_multipart` into a rejection.
pub(crate) fn rejection_in(error: &object_store::Error) -> Option<CompleteRejection> {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        text.push('\n');
        text.push_str(&e.to_string());
        source = e.source();
    }
    let code = xml_element(&text, "Code")?;
    REJECTION_CODES
        .contains(&code.as_str())
        .then(|| CompleteRejection {
            message: xml_element(&text, "Message")
                .unwrap_or_else(|| format!("the store refused the parts ({code})")),
            code,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_store_answers() {
        let ok = classify(StatusCode::OK, b"<CompleteMultipartUploadResult/>");
        assert!(matches!(ok, Outcome::Final(Ok(Assembled::Done))));
        let body = b"<Error><Code>InvalidPart</Code><Message>part 2 &amp; 3</Message></Error>";
        match classify(StatusCode::BAD_REQUEST, body) {
            Outcome::Final(Ok(Assembled::Rejected(r))) => {
                assert_eq!(
                    (r.code.as_str(), r.message.as_str()),
                    ("InvalidPart", "part 2 & 3")
                );
            }
            _ => panic!("expected a rejection"),
        }
        let slow = b"<Error><Code>SlowDown</Code></Error>";
        assert!(matches!(classify(StatusCode::OK, slow), Outcome::Retry(_)));
        assert!(matches!(
            classify(StatusCode::SERVICE_UNAVAILABLE, b""),
            Outcome::Retry(_)
        ));
        let gone = b"<Error><Code>NoSuchUpload</Code></Error>";
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, gone),
            Outcome::Final(Ok(Assembled::NoSuchUpload))
        ));
        let denied = b"<Error><Code>AccessDenied</Code></Error>";
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, denied),
            Outcome::Final(Err(_))
        ));
    }
}
