//! The PostgreSQL side of the control-plane database: the synchronous
//! `postgres` crate on a small pool of dedicated OS threads.
//!
//! `postgres::Client` drives its connection with a runtime of its own and
//! panics when used on a thread that runs inside a tokio runtime (every
//! actix worker does), so no caller thread ever touches a client: each pool
//! thread owns one connection and takes boxed jobs `FnOnce(&mut Client)`
//! from a shared channel; the result comes back on a one-shot channel.
//! A transaction runs wholly inside one job, on one connection. A broken
//! connection is dropped and the next job on that thread reconnects.

use super::{Row, Value};
use crate::{Result, StoreError};
use bytes::BytesMut;
use postgres::error::SqlState;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, GenericClient, NoTls};
use std::error::Error as StdError;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce(&mut Conn) + Send>;

/// Connections idle longer than this are checked before use.
const IDLE_CHECK: Duration = Duration::from_secs(30);
/// Connect timeout when the URL names none.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The pool: `size` threads, each with one connection.
pub(crate) struct Pool {
    jobs: Option<mpsc::Sender<Job>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    target: Arc<str>,
}

/// One thread's connection, opened lazily and reopened when broken.
struct Conn {
    config: postgres::Config,
    target: Arc<str>,
    client: Option<Client>,
    last_used: Instant,
}

impl Pool {
    /// Starts `size` (at least one) connection threads for `url` (a
    /// `postgres://` URL or `key=value` string). Connects lazily: use
    /// [`Pool::run`] to find out whether the server answers.
    pub(crate) fn start(url: &str, size: usize) -> Result<Pool> {
        let target: Arc<str> = mask_url(url).into();
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("PostgreSQL URL {target}: {}", chain(&e))))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("vitals-control-plane");
        }
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::new();
        for i in 0..size.max(1) {
            let conn = Conn {
                config: config.clone(),
                target: target.clone(),
                client: None,
                last_used: Instant::now(),
            };
            let rx = rx.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("vitals-cp-pg-{i}"))
                    .spawn(move || work(&rx, conn))?,
            );
        }
        Ok(Pool {
            jobs: Some(tx),
            threads,
            target,
        })
    }

    /// Runs `f` on one of the pool's connections and waits for its result.
    pub(crate) fn run<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Client) -> Result<R> + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |conn: &mut Conn| {
            let _ = tx.send(conn.run(f));
        });
        self.jobs
            .as_ref()
            .ok_or_else(|| StoreError::Postgres("the connection pool is stopped".into()))?
            .send(job)
            .map_err(|_| StoreError::Postgres("the connection pool is stopped".into()))?;
        rx.recv().map_err(|_| {
            StoreError::Postgres(format!(
                "a connection thread for {} failed while running a query",
                self.target
            ))
        })?
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the channel ends every thread after its current job.
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn work(rx: &Mutex<mpsc::Receiver<Job>>, mut conn: Conn) {
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else {
            return; // the pool is gone
        };
        // A panicking job (the driver's, not ours) must not take the thread
        // with it: its caller sees a closed channel, the connection is
        // reopened for the next job.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut conn))).is_err() {
            conn.client = None;
        }
    }
}

impl Conn {
    fn run<R>(&mut self, f: impl FnOnce(&mut Client) -> Result<R>) -> Result<R> {
        let client = self.client()?;
        let r = f(client);
        // After a database-level failure, check the connection once so a
        // broken one is replaced before the next job rather than after it.
        let broken = client.is_closed()
            || (matches!(r, Err(StoreError::Postgres(_)))
                && client.is_valid(Duration::from_secs(2)).is_err());
        if broken {
            self.client = None;
        }
        self.last_used = Instant::now();
        r
    }

    fn client(&mut self) -> Result<&mut Client> {
        let idle = self.last_used.elapsed() > IDLE_CHECK;
        if let Some(c) = &mut self.client
            && (c.is_closed() || (idle && c.is_valid(CONNECT_TIMEOUT).is_err()))
        {
            self.client = None;
        }
        if self.client.is_none() {
            let c = self.config.connect(NoTls).map_err(|e| {
                StoreError::Postgres(format!(
                    "the control-plane database {} is unreachable: {}",
                    self.target,
                    chain(&e)
                ))
            })?;
            self.client = Some(c);
        }
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Postgres("no connection".into()))
    }
}

/// An error and its causes, one line.
fn chain(e: &dyn StdError) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A unique violation becomes a [`StoreError::Conflict`] (as on SQLite);
/// other errors keep the server's message.
pub(crate) fn error(e: postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let mut msg = format!("{}: {}", db.severity(), db.message());
        if let Some(d) = db.detail() {
            msg.push_str(&format!(" ({d})"));
        }
        if db.code() == &SqlState::UNIQUE_VIOLATION {
            return StoreError::Conflict(msg);
        }
        return StoreError::Postgres(msg);
    }
    StoreError::Postgres(chain(&e))
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; in
/// `key=value` strings, `password=…` → `password=***`.
pub(crate) fn mask_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (auth_host, tail) = rest.split_at(end);
        let masked = match auth_host.rsplit_once('@') {
            Some((auth, host)) => match auth.split_once(':') {
                Some((user, _)) => format!("{user}:***@{host}"),
                None => auth_host.to_string(),
            },
            None => auth_host.to_string(),
        };
        // A password may also come as a query parameter.
        let tail = match tail.split_once('?') {
            Some((path, query)) => {
                let q: Vec<String> = query
                    .split('&')
                    .map(|kv| match kv.split_once('=') {
                        Some(("password", _)) => "password=***".to_string(),
                        _ => kv.to_string(),
                    })
                    .collect();
                format!("{path}?{}", q.join("&"))
            }
            None => tail.to_string(),
        };
        return format!("{scheme}://{masked}{tail}");
    }
    url.split_whitespace()
        .map(|kv| {
            if kv.starts_with("password=") {
                "password=***"
            } else {
                kv
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        let mismatch = || -> Box<dyn StdError + Sync + Send> {
            format!("a {} value cannot be sent as {ty}", self.type_name()).into()
        };
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => {
                if *ty == Type::INT8 {
                    i.to_sql(ty, out)
                } else if *ty == Type::INT4 {
                    i32::try_from(*i)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(*i)?.to_sql(ty, out)
                } else if *ty == Type::FLOAT8 {
                    (*i as f64).to_sql(ty, out)
                } else if *ty == Type::BOOL {
                    (*i != 0).to_sql(ty, out)
                } else {
                    Err(mismatch())
                }
            }
            Value::Real(f) => {
                if *ty == Type::FLOAT8 {
                    f.to_sql(ty, out)
                } else if *ty == Type::FLOAT4 {
                    (*f as f32).to_sql(ty, out)
                } else {
                    Err(mismatch())
                }
            }
            Value::Text(s) => {
                if [
                    Type::TEXT,
                    Type::VARCHAR,
                    Type::BPCHAR,
                    Type::NAME,
                    Type::UNKNOWN,
                ]
                .contains(ty)
                {
                    s.as_str().to_sql(ty, out)
                } else {
                    Err(mismatch())
                }
            }
            Value::Blob(b) => {
                if *ty == Type::BYTEA {
                    b.as_slice().to_sql(ty, out)
                } else {
                    Err(mismatch())
                }
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true // checked per value in `to_sql`
    }

    fn to_sql_checked(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        self.to_sql(ty, out)
    }
}

fn refs(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

pub(crate) fn execute(c: &mut impl GenericClient, sql: &str, params: &[Value]) -> Result<usize> {
    let n = c.execute(sql, &refs(params)).map_err(error)?;
    usize::try_from(n).map_err(|e| StoreError::Decode(e.to_string()))
}

pub(crate) fn query(c: &mut impl GenericClient, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
    c.query(sql, &refs(params))
        .map_err(error)?
        .iter()
        .map(decode)
        .collect()
}

fn decode(row: &postgres::Row) -> Result<Row> {
    let mut vals = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let ty = col.type_();
        let v = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::Int))
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)
                .map(|v| v.map(|v| Value::Int(i64::from(v))))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)
                .map(|v| v.map(|v| Value::Int(i64::from(v))))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)
                .map(|v| v.map(|v| Value::Int(i64::from(v))))
        } else if *ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(i).map(|v| v.map(Value::Real))
        } else if *ty == Type::FLOAT4 {
            row.try_get::<_, Option<f32>>(i)
                .map(|v| v.map(|v| Value::Real(f64::from(v))))
        } else if *ty == Type::BYTEA {
            row.try_get::<_, Option<Vec<u8>>>(i)
                .map(|v| v.map(Value::Blob))
        } else if [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME].contains(ty) {
            row.try_get::<_, Option<String>>(i)
                .map(|v| v.map(Value::Text))
        } else {
            return Err(StoreError::Decode(format!(
                "column {i} ({}) has the unsupported type {ty}",
                col.name()
            )));
        };
        vals.push(v.map_err(error)?.unwrap_or(Value::Null));
    }
    Ok(Row(vals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_url("postgres://vitals:s3cret@db.example:5432/cp?sslmode=disable"),
            "postgres://vitals:***@db.example:5432/cp?sslmode=disable"
        );
        assert_eq!(
            mask_url("postgresql://vitals@db/cp?password=s3cret&x=1"),
            "postgresql://vitals@db/cp?password=***&x=1"
        );
        assert_eq!(
            mask_url("host=db user=vitals password=s3cret dbname=cp"),
            "host=db user=vitals password=*** dbname=cp"
        );
        assert_eq!(mask_url("postgres://db/cp"), "postgres://db/cp");
    }

    #[test]
    fn an_unreachable_server_is_a_clear_error_without_the_password() {
        // Port 1 on loopback: nothing listens there.
        let pool = Pool::start("postgres://vitals:s3cret@127.0.0.1:1/cp", 1).expect("pool");
        let e = pool
            .run(|c| query(c, "SELECT 1", &[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unreachable"), "{e}");
        assert!(e.contains("postgres://vitals:***@127.0.0.1:1/cp"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        let bad = Pool::start("postgres://vitals:s3cret@host:notaport/cp", 1);
        let e = bad.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("URL") && !e.contains("s3cret"), "{e}");
    }
}
