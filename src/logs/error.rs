//! How storing or reading a log fails; shared by both backends.

/// What went wrong while storing or reading a log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log storage failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("R2 log storage failed: {0}")]
    Remote(#[from] super::s3::S3Error),
    #[error("{0}")]
    Config(String),
}

pub type Result<T, E = LogError> = std::result::Result<T, E>;
