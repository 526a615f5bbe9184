//! Test support shared by this crate's tests and other crates' (feature `testing`): what a
//! test does when something it needs from outside (a database, an emulator, an object store
//! server, a cargo feature) is missing.
//!
//! **Rule:** under `CI=true` a missing requirement fails the test (CI must provide it);
//! elsewhere the test writes one `skipped ...` line and passes, so that `cargo test` works
//! on a machine without the services. The line goes to stderr directly: the test harness
//! captures `eprintln!` of passing tests, and a skip must be visible.

use std::io::Write as _;

/// Whether this run is CI (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Skips `test` because `missing` is missing, or panics under `CI=true` (see the module
/// docs); `fix` says how to provide it. The caller returns afterwards.
pub fn skip(test: &str, missing: &str, fix: &str) {
    assert!(!in_ci(), "{test}: {missing} but CI=true: CI must {fix}");
    let _ = writeln!(std::io::stderr(), "skipped {test}: {missing}; {fix}");
}

/// The values of `vars`, in order, when every one is set and not empty; otherwise
/// [`skip`]s `test` naming the missing ones (a panic under `CI=true`) and returns `None`.
/// `fix` says how to provide them (e.g. ``run `eval "$(scripts/services/postgres.sh)"` ``).
pub fn external(test: &str, vars: &[&str], fix: &str) -> Option<Vec<String>> {
    let values: Vec<Option<String>> = vars
        .iter()
        .map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .collect();
    let missing: Vec<&str> = vars
        .iter()
        .zip(&values)
        .filter(|(_, value)| value.is_none())
        .map(|(var, _)| *var)
        .collect();
    if missing.is_empty() {
        return Some(values.into_iter().flatten().collect());
    }
    skip(test, &format!("{} not set", missing.join(", ")), fix);
    None
}

/// Whether the Bigtable emulator of the Google Cloud CLI is installed on this machine
/// (`gcloud` on the `PATH`, with its `bigtable-emulator` component). Where it is not, the
/// Bigtable tests do not run at all, in CI too.
pub fn bigtable_emulator_installed() -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path)
        .filter_map(|dir| std::fs::canonicalize(dir.join("gcloud")).ok())
        .any(|gcloud| {
            gcloud
                .parent()
                .map(|bin| bin.join("../platform/bigtable-emulator/cbtemulator"))
                .is_some_and(|cbt| cbt.is_file())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_variables_are_returned_in_order() {
        // The test binary's own environment: PATH is set everywhere.
        let values = external("testing self-test", &["PATH", "PATH"], "-").expect("PATH is set");
        assert_eq!(values.len(), 2);
        assert_eq!(values[0], std::env::var("PATH").unwrap());
    }

    #[test]
    fn a_missing_variable_skips_or_fails_in_ci() {
        let var = "OS_TEST_SURELY_NOT_SET_ANYWHERE";
        let outcome = std::panic::catch_unwind(|| {
            external(
                "testing self-test",
                &["PATH", var],
                "this variable is never set",
            )
        });
        match outcome {
            Ok(values) => {
                assert!(!in_ci(), "CI must fail");
                assert_eq!(values, None);
            }
            Err(panic) => {
                assert!(in_ci(), "only CI fails");
                let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
                assert!(message.contains(var), "{message}");
            }
        }
    }
}
