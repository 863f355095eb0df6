//! `UsageError`: a mistake in what the user asked for, found after clap's
//! own checks (a flag or config value that cannot work, an output root that
//! cannot be written); `exit_code` maps it to exit status 2.

/// A usage mistake, with a message naming the flag, key or path.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
