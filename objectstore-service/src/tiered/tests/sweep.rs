//! Expiry sweeper tests.
