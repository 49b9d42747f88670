//! Turning a database URL into a connection pool, and running the migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, PgConnection, PgPool, SqlitePool};

use crate::error::StoreError;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a SQLite writer waits for the write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Readers run beside the one writer WAL allows.
const SQLITE_CONNECTIONS: u32 = 4;
const POSTGRES_CONNECTIONS: u32 = 8;

/// The open pool, one per dialect.
#[derive(Debug, Clone)]
pub(crate) enum Pools {
    /// SQLite file or memory database.
    Sqlite(SqlitePool),
    /// PostgreSQL server.
    Postgres(PgPool),
}

/// Opens the database `url` names.
pub(crate) async fn connect(url: &str) -> Result<Pools, StoreError> {
    let invalid = |problem: String| StoreError::InvalidUrl {
        url: redact(url),
        problem,
    };
    let url = url.trim();
    if url.is_empty() {
        return Err(invalid("it is empty".into()));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = PgConnectOptions::from_str(url).map_err(|e| invalid(e.to_string()))?;
        return connect_postgres(options).await.map(Pools::Postgres);
    }
    let options = if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url).map_err(|e| invalid(e.to_string()))?;
        // `sqlite://PATH` creates the file like a bare path does; a URL that names a `mode`
        // (`ro`, `rw`, `rwc`, `memory`) gets exactly that mode.
        if names_mode(url) {
            options
        } else {
            options.create_if_missing(true)
        }
    } else if let Some((scheme, _)) = url.split_once("://") {
        return Err(invalid(format!("unknown scheme {scheme:?}")));
    } else {
        SqliteConnectOptions::new()
            .filename(url)
            .create_if_missing(true)
    };
    let memory = url.contains(":memory:") || url.contains("mode=memory");
    connect_sqlite(options, memory).await.map(Pools::Sqlite)
}

async fn connect_sqlite(
    options: SqliteConnectOptions,
    memory: bool,
) -> Result<SqlitePool, StoreError> {
    let path = if memory {
        ":memory:".to_owned()
    } else {
        options.get_filename().display().to_string()
    };
    // WAL lets readers run beside the writer. FULL syncs the WAL on every commit, so a
    // recorded intent survives power loss, not only a killed process; intake batches many
    // signals per commit, which keeps the cost of that low.
    let options = options
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        .synchronous(SqliteSynchronous::Full);
    let options = if memory {
        options
    } else {
        options.journal_mode(SqliteJournalMode::Wal)
    };
    // An in-memory database lives as long as a connection to it: keep exactly one, forever.
    let pool = if memory {
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        SqlitePoolOptions::new().max_connections(SQLITE_CONNECTIONS)
    };
    pool.connect_with(options)
        .await
        .map_err(|source| StoreError::OpenSqlite { path, source })
}

async fn connect_postgres(options: PgConnectOptions) -> Result<PgPool, StoreError> {
    let target = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    );
    let failed = |source| StoreError::ConnectPostgres {
        target: target.clone(),
        source,
    };
    // One plain connection first: the pool retries refused connections until its timeout
    // and then reports only the timeout, while this says what is wrong (refused, no such
    // database, authentication).
    PgConnection::connect_with(&options)
        .await
        .map_err(failed)?
        .close()
        .await
        .map_err(failed)?;
    PgPoolOptions::new()
        .max_connections(POSTGRES_CONNECTIONS)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(failed)
}

/// Applies the migrations the database has not seen yet.
pub(crate) async fn migrate(pools: &Pools) -> Result<(), StoreError> {
    match pools {
        Pools::Sqlite(pool) => {
            SQLITE_MIGRATIONS
                .run(pool)
                .await
                .map_err(|source| StoreError::Migrate {
                    dialect: "sqlite",
                    source,
                })
        }
        Pools::Postgres(pool) => {
            POSTGRES_MIGRATIONS
                .run(pool)
                .await
                .map_err(|source| StoreError::Migrate {
                    dialect: "postgres",
                    source,
                })
        }
    }
}

/// Whether a SQLite URL's query sets `mode`.
fn names_mode(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some("mode"))
    })
}

/// The URL with any password replaced, fit for an error message.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_errors() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redact("/var/lib/nightshift.db"), "/var/lib/nightshift.db");
    }

    #[tokio::test]
    async fn unknown_schemes_are_named() {
        let err = connect("mysql://root:pw@localhost/x").await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "invalid database url \"mysql://root:***@localhost/x\": unknown scheme \"mysql\""
            ),
            "{text}"
        );
        assert!(text.contains("expected sqlite://PATH"), "{text}");
        let err = connect("  ").await.unwrap_err();
        assert!(err.to_string().contains("it is empty"), "{err}");
    }

    #[tokio::test]
    async fn a_sqlite_url_creates_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        for (i, prefix) in ["sqlite://", "sqlite:"].iter().enumerate() {
            let path = dir.path().join(format!("new-{i}.db"));
            assert!(!path.exists());
            let pools = connect(&format!("{prefix}{}", path.display()))
                .await
                .unwrap_or_else(|e| panic!("{prefix}: {e}"));
            migrate(&pools).await.unwrap();
            assert!(path.exists(), "{prefix}: the database file was created");
        }
        // A URL that asks for an existing file still gets no new one.
        let path = dir.path().join("absent.db");
        let err = connect(&format!("sqlite://{}?mode=rw", path.display()))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("absent.db"), "{err}");
        assert!(!path.exists());
    }

    #[test]
    fn the_mode_is_read_from_the_query() {
        assert!(names_mode("sqlite://x.db?mode=ro"));
        assert!(names_mode("sqlite://x.db?cache=shared&mode=rw"));
        assert!(!names_mode("sqlite://x.db"));
        assert!(!names_mode("sqlite://x.db?cache=shared"));
        assert!(!names_mode("sqlite://x.db?modes=1"));
    }

    #[tokio::test]
    async fn a_missing_directory_names_the_file() {
        let err = connect("/nonexistent-dir/deeper/x.db").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to open sqlite database /nonexistent-dir/deeper/x.db"
        );
        assert!(std::error::Error::source(&err).is_some());
    }
}
