//! The route templates of the wire contract (docs/http-api.md §1.2), named once for the router
//! (`app.rs`) and for the `route` label of the request metrics (`metrics/routes.rs`).
//!
//! Two routes answer with and without a trailing `/` (POST to a collection, multipart
//! initiation with a generated key): the router registers both forms, and both count under
//! one label, the template without the `/` ([`metric_label`]).

/// A collection: POST inserts under a generated key.
pub(crate) const COLLECTION: &str = "/v1/objects/{usecase}/{scopes}";
/// One object.
pub(crate) const OBJECT: &str = "/v1/objects/{usecase}/{scopes}/{*key}";
/// The batch endpoint (only with the trailing `/`).
pub(crate) const BATCH: &str = "/v1/objects:batch/{usecase}/{scopes}/";
/// Multipart initiation with a generated key.
pub(crate) const MULTIPART: &str = "/v1/objects:multipart/{usecase}/{scopes}";
/// Multipart initiation with a key, and abort.
pub(crate) const MULTIPART_OBJECT: &str = "/v1/objects:multipart/{usecase}/{scopes}/{*key}";
/// Multipart parts: upload and listing.
pub(crate) const MULTIPART_PARTS: &str = "/v1/objects:multipart:parts/{usecase}/{scopes}/{*key}";
/// Multipart completion.
pub(crate) const MULTIPART_COMPLETE: &str =
    "/v1/objects:multipart:complete/{usecase}/{scopes}/{*key}";

/// The routes that also answer with a trailing `/`.
pub(crate) const SLASH_ALIASED: [&str; 2] = [COLLECTION, MULTIPART];

/// The `/` form of a route of [`SLASH_ALIASED`].
pub(crate) fn with_slash(template: &str) -> String {
    format!("{template}/")
}

/// The `route` label of a matched template: the template, except that the `/` form of a
/// [`SLASH_ALIASED`] route counts as that route.
pub(crate) fn metric_label(template: &str) -> &str {
    match template.strip_suffix('/') {
        Some(route) if SLASH_ALIASED.contains(&route) => route,
        _ => template,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash_forms_share_the_label_of_their_route() {
        assert_eq!(metric_label(&with_slash(COLLECTION)), COLLECTION);
        assert_eq!(metric_label(&with_slash(MULTIPART)), MULTIPART);
        assert_eq!(metric_label(COLLECTION), COLLECTION);
        assert_eq!(metric_label(BATCH), BATCH);
        assert_eq!(metric_label(OBJECT), OBJECT);
        assert_eq!(metric_label("/health"), "/health");
    }
}
