//! Credentials (signed by the `object_store` client, which uses SigV4) and the admission
//! and metrics hooks.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use objectstore_s3::auth::{CredentialConfig, Secret};
use objectstore_s3::{FrontConfig, Hooks, Refusal, RequestScope};
use objectstore_service::stream::PayloadStream;
use objectstore_types::{ExpirationPolicy, ObjectContext, Permission};
use support::{ACCESS_KEY, Harness, SECRET, error_code};

fn credential(
    secret: &str,
    usecases: Option<&[&str]>,
    permissions: Option<&[Permission]>,
) -> CredentialConfig {
    CredentialConfig {
        secret_access_key: Some(Secret::new(secret)),
        usecases: usecases.map(|u| u.iter().map(|s| (*s).to_owned()).collect()),
        permissions: permissions.map(<[Permission]>::to_vec),
        ..CredentialConfig::default()
    }
}

#[tokio::test]
async fn signatures_keys_and_permissions() {
    let h = Harness::signed(
        &[
            (
                "READER",
                credential("reader-secret", None, Some(&[Permission::Read])),
            ),
            (
                "PHOTOS",
                credential("photos-secret", Some(&["photos"]), None),
            ),
        ],
        &["photos", "docs"],
    )
    .await;
    let err = h.store("nothere").get(&Path::from("a")).await.unwrap_err();
    assert!(
        err.to_string().contains("NoSuchBucket") || err.to_string().contains("404"),
        "{err}"
    );

    let store = h.store("photos");
    store
        .put(&Path::from("a"), Bytes::from_static(b"signed").into())
        .await
        .unwrap();
    assert_eq!(
        store
            .get(&Path::from("a"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        b"signed"
    );

    let wrong_secret = h.store_as("photos", ACCESS_KEY, "not-the-secret");
    let err = wrong_secret
        .get(&Path::from("a"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
    let unknown = h.store_as("photos", "NOBODY", SECRET);
    let err = unknown.get(&Path::from("a")).await.unwrap_err().to_string();
    assert!(err.contains("InvalidAccessKeyId"), "{err}");

    let (status, code) = error_code(h.get("/photos/a").await).await;
    assert_eq!((status, code.as_str()), (403, "AccessDenied"), "anonymous");
    let (status, code) = error_code(h.get("/").await).await;
    assert_eq!(
        (status, code.as_str()),
        (403, "AccessDenied"),
        "anonymous ListBuckets"
    );

    let reader = h.store_as("photos", "READER", "reader-secret");
    reader.get(&Path::from("a")).await.unwrap();
    let err = reader
        .put(&Path::from("b"), Bytes::from_static(b"x").into())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AccessDenied"), "{err}");
    let err = reader.delete(&Path::from("a")).await.unwrap_err();
    assert!(err.to_string().contains("AccessDenied"), "{err}");

    let photos_only = h.store_as("docs", "PHOTOS", "photos-secret");
    let err = photos_only
        .put(&Path::from("x"), Bytes::from_static(b"x").into())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AccessDenied"), "{err}");
    h.store_as("photos", "PHOTOS", "photos-secret")
        .put(&Path::from("y"), Bytes::from_static(b"y").into())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_front_with_credentials_rejects_what_zero_config_accepts() {
    let h = Harness::signed(&[], &["strict"]).await;
    // Zero-config strips any signature; with credentials, a made-up one is checked.
    let made_up = [
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKTEST/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        ),
        ("x-amz-date", "20240101T000000Z"),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
    ];
    let response = h.put_with("/strict/x", &made_up, "x").await;
    let (status, code) = error_code(response).await;
    assert_eq!(status, 403);
    assert!(
        code == "RequestTimeTooSkewed" || code == "SignatureDoesNotMatch",
        "{code}"
    );
}

/// Hooks that refuse by rule and record what they see.
#[derive(Default)]
struct Recording {
    busy: AtomicBool,
    metered: Arc<AtomicU64>,
    seen: Arc<Mutex<Vec<(String, u16)>>>,
}

struct Scope(Arc<Mutex<Vec<(String, u16)>>>);

impl RequestScope for Scope {
    fn responded(&mut self, operation: &str, status: StatusCode, _: Duration) {
        self.0
            .lock()
            .unwrap()
            .push((operation.to_owned(), status.as_u16()));
    }
    fn request_bytes(&mut self, _: u64) {}
    fn response_bytes(&mut self, _: u64) {}
}

impl Hooks for Recording {
    fn request(&self, _: &Method) -> Result<Box<dyn RequestScope>, Refusal> {
        if self.busy.load(Ordering::SeqCst) {
            return Err(Refusal::Busy);
        }
        Ok(Box::new(Scope(self.seen.clone())))
    }

    fn admit(&self, context: &ObjectContext, _: Option<&str>) -> Result<(), Refusal> {
        self.admit_batch_op(context, None)
    }

    fn admit_batch_op(&self, context: &ObjectContext, _: Option<&str>) -> Result<(), Refusal> {
        if context.scopes.get("blocked").is_some() {
            return Err(Refusal::Killswitched);
        }
        if context.usecase.as_str() == "limited" {
            return Err(Refusal::RateLimited {
                retry_after: Duration::from_millis(1500),
            });
        }
        Ok(())
    }

    fn meter(&self, _: &ObjectContext, body: PayloadStream) -> PayloadStream {
        use futures::StreamExt as _;
        let metered = self.metered.clone();
        body.inspect(move |chunk| {
            if let Ok(c) = chunk {
                metered.fetch_add(c.len() as u64, Ordering::SeqCst);
            }
        })
        .boxed()
    }

    fn check_policy(&self, _: &ObjectContext, policy: &ExpirationPolicy) -> Result<(), String> {
        match policy {
            ExpirationPolicy::TimeToLive(_) => Err("ttl is not allowed for this usecase".into()),
            _ => Ok(()),
        }
    }
}

#[tokio::test]
async fn admission_and_metrics_hooks_apply() {
    let hooks = Arc::new(Recording::default());
    let config = FrontConfig {
        buckets: vec!["limited".into()],
        ..FrontConfig::default()
    };
    let h = Harness::start(config, hooks.clone()).await;
    h.create_bucket("open").await;
    let (status, code) = error_code(h.send(Method::PUT, "/limited").await).await;
    assert_eq!(
        (status, code.as_str()),
        (503, "SlowDown"),
        "CreateBucket is admitted too"
    );

    let ok = h.put("/open/k", "12345").await;
    assert_eq!(ok.status(), 200);
    let got = h.get("/open/k").await.bytes().await.unwrap();
    assert_eq!(got.as_ref(), b"12345");
    assert_eq!(
        hooks.metered.load(Ordering::SeqCst),
        10,
        "request and response bodies"
    );

    let (status, code) = error_code(h.put("/open/blocked=1/k", "x").await).await;
    assert_eq!((status, code.as_str()), (403, "AccessDenied"));
    let limited = h.get("/limited/k").await;
    assert_eq!(limited.headers()["retry-after"], "2");
    assert_eq!(error_code(limited).await, (503, "SlowDown".into()));
    let ttl = h
        .put_with("/open/ttl", &[("x-sn-expiration", "ttl:1h")], "x")
        .await;
    assert_eq!(error_code(ttl).await, (400, "InvalidArgument".into()));

    let delete =
        "<Delete><Object><Key>k</Key></Object><Object><Key>blocked=1/k</Key></Object></Delete>";
    let text = h.post("/open?delete", delete).await.text().await.unwrap();
    assert!(text.contains("<Deleted><Key>k</Key>"), "{text}");
    assert!(text.contains("<Code>AccessDenied</Code>"), "{text}");

    hooks.busy.store(true, Ordering::SeqCst);
    let busy = h.get("/open/k").await;
    assert_eq!(error_code(busy).await, (503, "ServiceUnavailable".into()));
    hooks.busy.store(false, Ordering::SeqCst);

    let seen = hooks.seen.lock().unwrap().clone();
    for expected in [
        ("CreateBucket", 200),
        ("PutObject", 200),
        ("GetObject", 200),
        ("PutObject", 403),
        ("GetObject", 503),
        ("DeleteObjects", 200),
    ] {
        assert!(
            seen.iter()
                .any(|(op, status)| op == expected.0 && *status == expected.1),
            "{expected:?} not in {seen:?}"
        );
    }
}
