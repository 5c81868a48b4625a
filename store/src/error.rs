use thiserror::Error;

/// Errors of the storage layer.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The backend could not be reached or refused the operation. Callers
    /// (the spool writer) retry these.
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The PostgreSQL control plane refused or could not be reached (its
    /// URL is shown with the password masked).
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    /// A stored value did not have the type the code reads it as.
    #[error("unexpected stored value: {0}")]
    Decode(String),
    #[error("a blocking storage task failed: {0}")]
    Join(String),
    #[error("schema: {0}")]
    Schema(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl From<tokio::task::JoinError> for StoreError {
    fn from(e: tokio::task::JoinError) -> Self {
        StoreError::Join(e.to_string())
    }
}
