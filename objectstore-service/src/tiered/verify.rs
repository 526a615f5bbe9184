//! The long-term store is untrusted (module docs, "Verification"): the checks of a large
//! write's revision before its commit, of a part's receipt, of an assembled upload, and of
//! the bytes a read returns. Failures are [`IntegrityError`]s, reported where detected.

use futures::StreamExt;
use objectstore_types::ObjectId;

use super::Inner;
use crate::backend::{GetResponse, PartReceipt, PutReceipt};
use crate::digest::{BodyDigest, Digest};
use crate::error::{Error, Result};
use crate::integrity::{self, Check, IntegrityError, VerifiedBody};
use crate::stream::PayloadStream;

impl Inner {
    fn integrity(
        &self,
        operation: &'static str,
        id: &ObjectId,
        check: Check,
        detail: String,
    ) -> Error {
        IntegrityError::detected(operation, id.as_storage_path(), check, detail)
            .into_error(self.lt.name())
    }

    /// What the caller's stream delivered to the long-term store: `None` means the store
    /// returned without reading the body to its end, which is a failed write.
    pub(crate) fn sent(
        &self,
        operation: &'static str,
        target: &ObjectId,
        digest: &BodyDigest,
    ) -> Result<Digest> {
        digest.get().ok_or_else(|| {
            let detail = "the store acknowledged the write without reading the body to its end";
            self.integrity(operation, target, Check::Missing, detail.into())
        })
    }

    /// Step 3a of a large write: the store's account of the revision it kept (the receipt's
    /// MD5 and size, else the size read back with a HEAD) against what was sent.
    pub(crate) async fn verify_put(
        &self,
        revision: &ObjectId,
        sent: &Digest,
        receipt: &PutReceipt,
    ) -> Result<()> {
        let (size, md5) = if receipt.md5.is_some() || receipt.size.is_some() {
            (receipt.size, receipt.md5)
        } else {
            match self.lt.head(revision).await? {
                Some(metadata) => (Some(metadata.size.unwrap_or(0)), None),
                None => {
                    let detail = "the store does not have the revision it acknowledged".into();
                    return Err(self.integrity("put", revision, Check::Missing, detail));
                }
            }
        };
        integrity::compare(sent, size, md5)
            .map_err(|(check, detail)| self.integrity("put", revision, check, detail))
    }

    /// A part's receipt against what was sent (the backend compared them before storing the
    /// part already; this covers backends that report more than they check).
    pub(crate) fn verify_part(
        &self,
        revision: &ObjectId,
        sent: &Digest,
        receipt: &PartReceipt,
    ) -> Result<()> {
        integrity::compare(sent, Some(receipt.size), receipt.md5)
            .map_err(|(check, detail)| self.integrity("upload_part", revision, check, detail))
    }

    /// An assembled upload's size against the sum of its parts' sizes.
    pub(crate) fn verify_assembled(
        &self,
        revision: &ObjectId,
        expected: u64,
        stored: Option<u64>,
    ) -> Result<()> {
        match stored {
            Some(size) if size == expected => Ok(()),
            other => {
                let detail = format!(
                    "the parts hold {expected} bytes, the store's assembled object {}",
                    other.map_or_else(|| "has no size".to_owned(), |s| format!("{s} bytes"))
                );
                Err(self.integrity("complete_multipart", revision, Check::Size, detail))
            }
        }
    }

    /// A GET of a long-term revision, checked (module docs, "Verification"): the body is
    /// checked against the tombstone's size (the range's length for a range) and, for a
    /// whole object stored with a CRC-32C, that CRC; the first chunk is awaited here, so
    /// that a store failing before the first byte (or a body that fails its check before
    /// then) is an error of the call, not an empty response.
    pub(crate) async fn verified_read(
        &self,
        revision: &ObjectId,
        response: GetResponse,
    ) -> Result<GetResponse> {
        let GetResponse::Found {
            metadata,
            range,
            body,
        } = response
        else {
            return Ok(response);
        };
        let expected = match &range {
            Some(r) => Some(r.len()),
            None => metadata.size,
        };
        let crc32c = match &range {
            None => metadata.crc32c,
            Some(_) => None,
        };
        let checked = VerifiedBody::new(body, revision.as_storage_path(), expected, crc32c);
        let body = self.first_chunk(revision, Box::pin(checked)).await?;
        Ok(GetResponse::Found {
            metadata,
            range,
            body,
        })
    }

    /// Awaits the first item of `body`: an error becomes the call's error; otherwise the
    /// body is handed on whole.
    async fn first_chunk(
        &self,
        revision: &ObjectId,
        mut body: PayloadStream,
    ) -> Result<PayloadStream> {
        match body.next().await {
            None => Ok(crate::stream::empty()),
            Some(Err(error)) => {
                if IntegrityError::find(&error).is_none() {
                    tracing::error!(
                        id = %revision.as_storage_path(),
                        %error,
                        "the long-term store failed before the first byte of a read"
                    );
                }
                Err(Error::backend(self.lt.name(), "read an object", error))
            }
            Some(Ok(first)) => Ok(futures::stream::once(async { Ok(first) })
                .chain(body)
                .boxed()),
        }
    }
}
