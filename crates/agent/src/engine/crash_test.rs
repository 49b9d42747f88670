//! Test hooks for `crates/cli/tests/crash_resume.rs`, compiled only with the cargo feature
//! `crash-test-hooks`: the engine stops for good at an exact point of an action so that the
//! test can kill the process there and check what a restarted agent does.

/// Test hook (crates/cli/tests/crash_resume.rs): when set to a file path, the engine writes
/// the idempotency key to that file and waits forever right after an infra-changing action's
/// intent is durable, before its dry run and change, so that a test can kill the process there.
pub const PAUSE_AFTER_INTENT: &str = "NIGHTSHIFT_PAUSE_AFTER_INTENT";
/// Test hook, as [`PAUSE_AFTER_INTENT`]: the pause comes right after the change was made,
/// before the outcome is recorded.
pub const PAUSE_AFTER_ACTION: &str = "NIGHTSHIFT_PAUSE_AFTER_ACTION";

/// Test hook (crates/cli/tests/leader_election.rs): as [`PAUSE_AFTER_INTENT`], but the
/// engine goes on when the test removes the file: a leader held there, then stopped past its
/// lease and resumed, shows what a deposed leader does.
pub const HOLD_AFTER_INTENT: &str = "NIGHTSHIFT_HOLD_AFTER_INTENT";

/// Holds here while the file the test hook `var` names exists (see [`HOLD_AFTER_INTENT`]).
pub(super) async fn hold(var: &str, key: &str) {
    let Some(marker) = std::env::var_os(var) else {
        return;
    };
    tracing::warn!(
        hook = var,
        key,
        "test hook: holding until the marker file is removed"
    );
    if let Err(e) = std::fs::write(&marker, key) {
        tracing::error!(hook = var, error = %e, "test hook: unable to write the marker file");
        return;
    }
    while std::path::Path::new(&marker).exists() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Stops here for good when the test hook `var` is set (see [`PAUSE_AFTER_INTENT`]). Unset,
/// it does nothing; and no real deployment is built with the feature.
pub(super) async fn pause(var: &str, key: &str) {
    let Some(marker) = std::env::var_os(var) else {
        return;
    };
    tracing::warn!(hook = var, key, "test hook: pausing for good");
    if let Err(e) = std::fs::write(&marker, key) {
        tracing::error!(hook = var, error = %e, "test hook: unable to write the marker file");
    }
    std::future::pending::<()>().await;
}
