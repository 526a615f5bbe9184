//! The entity tag of a stored object: what `If-Match` compares and what the S3 API serves
//! as `ETag`, one definition for the engine (conditional writes) and the fronts.
//!
//! * An object with a stored [`Metadata::etag`] (the MD5 of its bytes, or `<md5>-N` for a
//!   multipart upload, stamped by the engine while it streams the bytes) has that tag.
//! * An object stored before ETags existed has none stored. Its tag is derived from the
//!   stored metadata that a write sets: the first 16 bytes of a SHA-256 over creation time,
//!   size, content type, compression, policy, origin, filename and custom metadata, as
//!   `<32 hex>-0`. It changes with every write of different content or at a different
//!   second, and ends in `-0`, so no tool mistakes it for an MD5 (rclone and others treat
//!   `-N` tags as "not an MD5"): an object never gets a 32-hex tag that is not its MD5.
//!   Two writes of the same size and metadata within the same second share it.

use std::collections::BTreeMap;

use objectstore_types::{Compression, Metadata, time};
use sha2::{Digest as _, Sha256};

/// The object's entity tag, unquoted (module docs).
pub fn entity_tag(metadata: &Metadata) -> String {
    match &metadata.etag {
        Some(etag) => etag.clone(),
        None => derived_tag(metadata),
    }
}

/// The tag of an object without a stored one (module docs).
pub fn derived_tag(metadata: &Metadata) -> String {
    #[derive(serde::Serialize)]
    struct Revision<'a> {
        created: Option<u64>,
        size: Option<u64>,
        content_type: &'a str,
        compression: Option<Compression>,
        policy: String,
        origin: Option<&'a str>,
        filename: Option<&'a str>,
        custom: &'a BTreeMap<String, String>,
    }
    let revision = Revision {
        created: metadata.time_created.map(time::unix_secs),
        size: metadata.size,
        content_type: &metadata.content_type,
        compression: metadata.compression,
        policy: metadata.expiration_policy.to_string(),
        origin: metadata.origin.as_deref(),
        filename: metadata.filename.as_deref(),
        custom: &metadata.custom,
    };
    let json = serde_json::to_vec(&revision).unwrap_or_default();
    let digest = Sha256::digest(&json);
    format!("{}-0", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_tags_win_and_derived_ones_are_never_bare_md5s() {
        let mut m = Metadata {
            size: Some(3),
            ..Metadata::default()
        };
        let derived = entity_tag(&m);
        assert!(derived.ends_with("-0") && derived.len() == 34, "{derived}");
        m.custom.insert("k".into(), "v".into());
        assert_ne!(entity_tag(&m), derived, "custom metadata changes the tag");
        m.etag = Some("900150983cd24fb0d6963f7d28e17f72".into());
        assert_eq!(entity_tag(&m), "900150983cd24fb0d6963f7d28e17f72");
    }
}
