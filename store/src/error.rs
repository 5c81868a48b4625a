use thiserror::Error;

/// Errors of the storage layer.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The backend could not be reached or refused the operation. Callers
    /// (the spool writer) retry these.
    #[error("ClickHouse: {0}")]
    ClickHouse(clickhouse::error::Error),
    /// The ClickHouse server answered, but another server it needs (a shard
    /// of a `Distributed` table) could not be reached: any answer would be
    /// missing that shard's rows, so there is none. Inserts are retried.
    #[error("ClickHouse shard {shard} is unreachable: {detail}")]
    ShardUnavailable { shard: String, detail: String },
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

impl From<clickhouse::error::Error> for StoreError {
    fn from(e: clickhouse::error::Error) -> Self {
        let text = e.to_string();
        match unreachable_shard(&text) {
            Some(shard) => StoreError::ShardUnavailable {
                shard,
                detail: text.lines().next().unwrap_or_default().to_string(),
            },
            None => StoreError::ClickHouse(e),
        }
    }
}

/// The `host:port` of the server a ClickHouse error says it could not
/// connect to (codes 210 NETWORK_ERROR, 279 ALL_CONNECTION_TRIES_FAILED,
/// as 18.16 and current releases word them).
fn unreachable_shard(text: &str) -> Option<String> {
    if !(text.contains("Code: 210") || text.contains("Code: 279")) {
        return None;
    }
    for marker in [
        "Connection refused (",
        "Timeout exceeded while connecting to socket (",
        "Host not found (",
    ] {
        if let Some(rest) = text.split(marker).nth(1)
            && let Some(host) = rest.split(')').next()
            && !host.is_empty()
        {
            return Some(host.to_string());
        }
    }
    Some("?".into())
}

impl From<tokio::task::JoinError> for StoreError {
    fn from(e: tokio::task::JoinError) -> Self {
        StoreError::Join(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_shard_is_named() {
        // As ClickHouse 18.16 answers a query on a Distributed table whose
        // second shard is down.
        let t = "Code: 279, e.displayText() = DB::NetException: All connection tries failed. Log: \n\n\
                 Code: 210, e.displayText() = DB::NetException: Connection refused (127.0.0.3:19031), e.what() = DB::NetException";
        assert_eq!(unreachable_shard(t).as_deref(), Some("127.0.0.3:19031"));
        assert_eq!(unreachable_shard("Code: 60, Table x doesn't exist"), None);
    }
}
