//! Resumable uploads (placeholder, in progress).
