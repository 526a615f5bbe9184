//! Tests of the cloud backends.
//!
//! * Without any server: the [`Backend`] conformance suite on `object_store`'s in-memory
//!   store (both the single-PUT and the streamed multipart path), configuration parsing and
//!   validation, secret redaction, and the GCS builder (GCS has no local emulator that works
//!   with `object_store`'s client, so it is exercised no further).
//! * Against real servers ([`servers`]), gated on environment variables that the service
//!   scripts print (`eval "$(scripts/services/moto.sh)"`, `ceph.sh`, `azurite.sh`): the
//!   backend and long-term conformance suites, a 20 MiB streamed round trip, a failing
//!   stream, the conditional writes of expiry records and the cleanup of abandoned uploads,
//!   on S3 (moto), S3 (Ceph radosgw) and Azure (Azurite). When a variable is missing the
//!   test fails if `CI=true`, and otherwise prints one "skipped" line and passes.

use std::sync::Arc;
use std::time::Duration;

use object_store::memory::InMemory;
use objectstore_types::ExpirationPolicy;

use super::*;
use crate::backend::LongTermBackend;
use crate::clock::ManualClock;
use crate::conformance::{self, id, stamped};

#[cfg(any(feature = "s3", feature = "azure"))]
mod servers;

const MIB: usize = 1024 * 1024;

fn memory_backend(clock: SharedClock, uploads: UploadSettings) -> CloudBackend {
    CloudBackend::with_store("memory", Arc::new(InMemory::new()), clock).with_uploads(uploads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_backend_suite() {
    let make = |clock: SharedClock| async move { memory_backend(clock, UploadSettings::default()) };
    conformance::backend_suite(&make).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_backend_suite_with_streamed_parts() {
    // 64 KiB parts: every body above that takes the multipart path.
    let uploads = UploadSettings {
        part_size: 64 * 1024,
        max_parts_in_flight: 2,
        ..UploadSettings::default()
    };
    let make = |clock: SharedClock| {
        let uploads = uploads.clone();
        async move { memory_backend(clock, uploads) }
    };
    conformance::backend_suite(&make).await;
}

#[tokio::test]
async fn multipart_api_needs_a_native_store() {
    let b = memory_backend(ManualClock::new(), UploadSettings::default());
    let m = stamped(ExpirationPolicy::Manual, b.clock.now());
    let result = b.initiate_multipart(&id("mp"), &m).await;
    assert!(
        matches!(result, Err(Error::Unsupported { .. })),
        "{result:?}"
    );
}

#[test]
fn configs_deserialize_with_defaults_and_redact_secrets() {
    let config: S3Config = serde_json::from_value(serde_json::json!({
        "bucket": "b",
        "endpoint": "http://127.0.0.1:9000",
        "secret_access_key": "very-secret",
        "client": { "request_timeout": "5s", "max_retries": 3 },
        "uploads": { "part_size": 16 * MIB },
    }))
    .unwrap();
    assert_eq!(config.client.request_timeout, Duration::from_secs(5));
    assert_eq!(config.client.max_retries, 3);
    assert_eq!(config.client.retry_timeout, Duration::from_secs(180));
    assert_eq!(config.uploads.part_size, 16 * MIB);
    assert_eq!(config.uploads.max_parts_in_flight, 4);
    assert!(config.from_env && !config.allow_http);
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("very-secret") && debug.contains("<redacted>"),
        "{debug}"
    );

    let unknown = serde_json::from_value::<AzureConfig>(serde_json::json!({
        "container": "c", "acount": "typo",
    }));
    assert!(unknown.is_err(), "unknown fields must be rejected");
    let azure: AzureConfig = serde_json::from_value(serde_json::json!({
        "container": "c", "access_key": "k", "use_emulator": true,
    }))
    .unwrap();
    assert!(!format!("{azure:?}").contains("\"k\""));
}

#[cfg(feature = "gcs")]
fn gcs_config(extra: serde_json::Value) -> GcsConfig {
    let mut value = serde_json::json!({ "bucket": "b", "from_env": false });
    if let (Some(map), serde_json::Value::Object(extra)) = (value.as_object_mut(), extra) {
        map.extend(extra);
    }
    serde_json::from_value(value).unwrap()
}

/// GCS cannot be exercised locally (no emulator speaks the XML multipart API that
/// `object_store` uses): its builder and validation are all that is tested.
#[cfg(feature = "gcs")]
#[test]
fn gcs_builder_accepts_a_config_and_rejects_invalid_ones() {
    let b = CloudBackend::gcs(
        &gcs_config(serde_json::json!({ "prefix": "tenant/a" })),
        ManualClock::new(),
    )
    .unwrap();
    assert_eq!(b.name(), "gcs");
    assert!(
        b.native
            .as_ref()
            .is_some_and(|n| n.flavor == native::Flavor::Gcs)
    );
    assert_eq!(b.limits.max_part_number, 10_000);

    let small_parts = gcs_config(serde_json::json!({ "uploads": { "part_size": 1024 } }));
    let bad_prefix = gcs_config(serde_json::json!({ "prefix": "a/../b" }));
    let bad_backoff = gcs_config(serde_json::json!({ "client": { "backoff_base": 0.5 } }));
    for config in [small_parts, bad_prefix, bad_backoff] {
        let result = CloudBackend::gcs(&config, ManualClock::new());
        assert!(
            matches!(result, Err(Error::InvalidRequest(_))),
            "{config:?} was accepted"
        );
    }
}

/// `InMemory`, except that it refuses open and suffix ranges, as some stores refuse range
/// forms: the backend must fall back to a HEAD and an explicit range.
#[derive(Debug)]
struct RefusesOpenRanges(InMemory);

impl std::fmt::Display for RefusesOpenRanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefusesOpenRanges")
    }
}

#[async_trait]
impl ObjectStore for RefusesOpenRanges {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        self.0.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.0.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        if matches!(
            options.range,
            Some(GetRange::Offset(_) | GetRange::Suffix(_))
        ) {
            return Err(object_store::Error::Generic {
                store: "RefusesOpenRanges",
                source: "open ranges are not supported".into(),
            });
        }
        self.0.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<Path>> {
        self.0.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.0.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.0.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.0.copy_opts(from, to, options).await
    }
}

/// Refused ranges are resolved by the backend: 416 from the HEAD's size, satisfiable ones
/// asked again as explicit ranges; the whole backend suite passes on such a store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_ranges_fall_back_to_explicit_ranges() {
    let make = |clock: SharedClock| async move {
        CloudBackend::with_store(
            "refuses",
            Arc::new(RefusesOpenRanges(InMemory::new())),
            clock,
        )
    };
    conformance::backend_suite(&make).await;
    let b = make(ManualClock::new()).await;
    let key = id("refused");
    let m = stamped(ExpirationPolicy::Manual, b.clock.now());
    b.put(&key, &m, crate::stream::single("0123456789"))
        .await
        .unwrap();
    for (range, want) in [(ByteRange::Suffix(3), "789"), (ByteRange::From(8), "89")] {
        let response = b.get(&key, Some(range)).await.unwrap();
        let (_, resolved, bytes) = conformance::read_found(response).await;
        assert_eq!(bytes, want.as_bytes(), "{range:?}");
        assert_eq!(resolved.map(|r| r.total), Some(10));
    }
    let response = b.get(&key, Some(ByteRange::From(10))).await.unwrap();
    assert!(
        matches!(response, GetResponse::RangeNotSatisfiable(_)),
        "{response:?}"
    );
}
