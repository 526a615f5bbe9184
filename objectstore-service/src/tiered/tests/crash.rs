//! Crash-recovery tests.
