//! [`Method`]: every method of the backend contracts that a decorator sees, by name.

/// A contract method (of [`crate::backend::Backend`], [`crate::backend::LongTermBackend`],
/// [`crate::backend::HighVolumeBackend`] or [`crate::backend::ChangeLog`]). A name shared by
/// two contracts (`put`, `get`, `head`, `delete`, `extend_expiry` of the plain and the row
/// contract) is one method: a decorated backend serves one of them, and metrics tell the
/// tiers apart by their `tier` label.
///
/// [`Method::as_str`] is the method's name: the `operation` label of the backend metrics
/// and the key of fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(
    missing_docs,
    reason = "each variant names the contract method of the same name"
)]
pub enum Method {
    Put,
    Get,
    Head,
    Delete,
    ExtendExpiry,
    CompareAndWrite,
    DeleteIfExpired,
    ScanExpired,
    ScanRows,
    AppendRecord,
    GetRecord,
    RemoveRecord,
    ClaimRecords,
    CountRecords,
    ScanRecords,
    RenewLease,
    ReleaseLease,
    ListLeases,
    InitiateMultipart,
    UploadPart,
    ListParts,
    AbortMultipart,
    CompleteMultipart,
    ListBlobs,
}

impl Method {
    /// The method's name, as in the traits.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Put => "put",
            Self::Get => "get",
            Self::Head => "head",
            Self::Delete => "delete",
            Self::ExtendExpiry => "extend_expiry",
            Self::CompareAndWrite => "compare_and_write",
            Self::DeleteIfExpired => "delete_if_expired",
            Self::ScanExpired => "scan_expired",
            Self::ScanRows => "scan_rows",
            Self::AppendRecord => "append_record",
            Self::GetRecord => "get_record",
            Self::RemoveRecord => "remove_record",
            Self::ClaimRecords => "claim_records",
            Self::CountRecords => "count_records",
            Self::ScanRecords => "scan_records",
            Self::RenewLease => "renew_lease",
            Self::ReleaseLease => "release_lease",
            Self::ListLeases => "list_leases",
            Self::InitiateMultipart => "initiate_multipart",
            Self::UploadPart => "upload_part",
            Self::ListParts => "list_parts",
            Self::AbortMultipart => "abort_multipart",
            Self::CompleteMultipart => "complete_multipart",
            Self::ListBlobs => "list_blobs",
        }
    }
}
