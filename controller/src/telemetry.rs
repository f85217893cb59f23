//! Logging: one JSON object per line on stdout, filtered by RUST_LOG (default `info`).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Calling it twice is harmless (the second call is ignored),
/// which keeps tests that start several components in one process simple.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _already_set = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_target(true)
        .with_env_filter(filter)
        .try_init();
}
