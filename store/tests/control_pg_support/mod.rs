//! Fixtures of `control_pg.rs`: a control plane on SQLite or on a fresh
//! PostgreSQL database, raw SQL past its API, and the macro that runs each
//! scenario on both.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use vitals_store::ControlPlane;

/// A PostgreSQL database created for one test, dropped at its end.
pub struct PgDb {
    pub admin_url: String,
    pub name: String,
    pub url: String,
}

impl PgDb {
    fn create() -> Option<PgDb> {
        let admin_url = match std::env::var("VITALS_TEST_POSTGRES_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => {
                // The same rule as the ClickHouse tests: skipped on a
                // developer's machine without a server, never in CI.
                let ci = std::env::var("CI").is_ok_and(|v| v == "true");
                assert!(
                    !ci,
                    "CI=true but VITALS_TEST_POSTGRES_URL is not set. Start a private server with \
                     `deploy/postgres/run-local.sh /tmp/vitals-pg 15432 &` and \
                     `export VITALS_TEST_POSTGRES_URL=postgres://vitals@127.0.0.1:15432/vitals_test`"
                );
                eprintln!("VITALS_TEST_POSTGRES_URL not set: skipping the PostgreSQL backend");
                return None;
            }
        };
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "vitals_cp_{}_{nanos}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to VITALS_TEST_POSTGRES_URL: {e:?}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e:?}"));
        let url = with_db(&admin_url, &name);
        Some(PgDb {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// The same server URL with another database name.
fn with_db(url: &str, db: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            let query = rest[end..]
                .find('?')
                .map(|q| &rest[end + q..])
                .unwrap_or("");
            format!("{scheme}://{}/{db}{query}", &rest[..end])
        }
        None => format!("{url} dbname={db}"),
    }
}

pub enum Target {
    Sqlite {
        path: PathBuf,
        _dir: tempfile::TempDir,
    },
    Postgres(PgDb),
}

/// One control plane under test (`cp` is dropped before its database).
pub struct Fixture {
    pub cp: ControlPlane,
    pub target: Target,
}

impl Fixture {
    pub fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("control.sqlite");
        Fixture {
            cp: ControlPlane::open(&path).expect("open SQLite control plane"),
            target: Target::Sqlite { path, _dir: dir },
        }
    }

    pub fn postgres() -> Option<Fixture> {
        let db = PgDb::create()?;
        let cp = ControlPlane::open_postgres(&db.url, 2).expect("open PostgreSQL control plane");
        Some(Fixture {
            cp,
            target: Target::Postgres(db),
        })
    }

    /// Another node on the same database (its own connections).
    pub fn node(&self) -> ControlPlane {
        match &self.target {
            Target::Sqlite { path, .. } => ControlPlane::open(path).expect("second node"),
            Target::Postgres(db) => ControlPlane::open_postgres(&db.url, 2).expect("second node"),
        }
    }

    /// Raw SQL on the database, past the control plane's API.
    pub fn raw(&self, sql: &str) -> Result<u64, String> {
        match &self.target {
            Target::Sqlite { path, .. } => rusqlite::Connection::open(path)
                .and_then(|c| c.execute(sql, []))
                .map(|n| n as u64)
                .map_err(|e| e.to_string()),
            Target::Postgres(db) => postgres::Client::connect(&db.url, postgres::NoTls)
                .and_then(|mut c| c.execute(sql, &[]))
                .map_err(|e| {
                    e.as_db_error()
                        .map(|d| d.message().to_string())
                        .unwrap_or_else(|| e.to_string())
                }),
        }
    }
}

/// Each scenario as two tests: `on_sqlite::NAME` and `on_postgres::NAME`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[test]
            fn $name() {
                super::$name(&super::Fixture::sqlite());
            })*
        }
        mod on_postgres {
            $(#[test]
            fn $name() {
                if let Some(f) = super::Fixture::postgres() {
                    super::$name(&f);
                }
            })*
        }
    };
}
