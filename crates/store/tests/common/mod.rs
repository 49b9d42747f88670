//! Test databases for both dialects, and domain values to store.
//!
//! SQLite: a file in a fresh temporary directory. PostgreSQL: a fresh schema in the `test`
//! database at 127.0.0.1:5432 (user postgres, trust auth), selected through the connection's
//! `search_path`, so parallel tests and runs never see each other's rows. Schemas left
//! behind by a crashed run are dropped by a later run after an hour.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use nightshift_core::{
    Action, Analysis, Category, Decision, Diagnosis, Evidence, EvidenceData, EvidenceId,
    EvidenceItem, EvidenceKind, Plan, ResourceRef, Risk, Signal, SignalSource, SignalStatus,
    Verdict,
};
use nightshift_core::{State, TimelineEntry, TimelineKind};
use nightshift_store::{NewIncident, SignalKey, Store, StoredIncident};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};

/// The PostgreSQL the project's machines run; `NIGHTSHIFT_TEST_POSTGRES` names another.
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const SCHEMA_PREFIX: &str = "nst_";
const STALE_AFTER_SECS: u64 = 3600;

static NEXT_SCHEMA: AtomicU32 = AtomicU32::new(0);

/// A database for one test.
pub struct TestDb {
    /// What `Store::open` gets.
    pub url: String,
    place: Place,
}

enum Place {
    Sqlite(tempfile::TempDir),
    Postgres { schema: String, admin: PgPool },
}

impl TestDb {
    /// A SQLite file in a new temporary directory.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = dir.path().join("record.db").display().to_string();
        TestDb {
            url,
            place: Place::Sqlite(dir),
        }
    }

    /// A fresh schema in the test PostgreSQL; `None` (with a note) when it is unreachable
    /// and `CI` is unset. With `CI` set an unreachable PostgreSQL fails the test.
    pub async fn postgres() -> Option<TestDb> {
        let server =
            std::env::var("NIGHTSHIFT_TEST_POSTGRES").unwrap_or_else(|_| POSTGRES.to_owned());
        let admin = match PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(3))
            .connect(&server)
            .await
        {
            Ok(admin) => admin,
            Err(e) if std::env::var_os("CI").is_some() => {
                panic!("PostgreSQL at {server} is required when CI is set: {e}")
            }
            Err(e) => {
                eprintln!(
                    "note: skipping the PostgreSQL variant: {server} is unreachable ({e}); \
                     start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
                );
                return None;
            }
        };
        let now = unix_now();
        drop_stale_schemas(&admin, now).await;
        let schema = format!(
            "{SCHEMA_PREFIX}{now}_{}_{}",
            std::process::id(),
            NEXT_SCHEMA.fetch_add(1, Ordering::Relaxed)
        );
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .expect("create the test schema");
        Some(TestDb {
            url: format!("{server}?options[search_path]={schema}"),
            place: Place::Postgres { schema, admin },
        })
    }

    /// Opens (and migrates) the store.
    pub async fn open(&self) -> Store {
        Store::open(&self.url)
            .await
            .unwrap_or_else(|e| panic!("open {}: {}", self.url, chain(&e)))
    }

    /// How many migrations the database has recorded.
    pub async fn applied_migrations(&self) -> i64 {
        match &self.place {
            Place::Sqlite(_) => {
                let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", self.url))
                    .await
                    .unwrap();
                let n = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                n
            }
            Place::Postgres { schema, admin } => sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {schema}._sqlx_migrations"
            )))
            .fetch_one(admin)
            .await
            .unwrap(),
        }
    }

    /// Runs one statement on the database beside the store, as another program would.
    pub async fn execute(&self, sql: &str) {
        match &self.place {
            Place::Sqlite(_) => {
                let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", self.url))
                    .await
                    .unwrap();
                sqlx::query(AssertSqlSafe(sql.to_owned()))
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
            Place::Postgres { schema, admin } => {
                let mut tx = admin.begin().await.unwrap();
                sqlx::query(AssertSqlSafe(format!("SET LOCAL search_path = {schema}")))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                sqlx::query(AssertSqlSafe(sql.to_owned()))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        }
    }

    /// Drops the PostgreSQL schema (the SQLite directory goes with `self`).
    pub async fn cleanup(self) {
        if let Place::Postgres { schema, admin } = self.place {
            let _ = sqlx::query(AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE"
            )))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Drops test schemas older than an hour (left by runs that crashed before cleaning up).
async fn drop_stale_schemas(admin: &PgPool, now: u64) {
    let Ok(names) = sqlx::query_scalar::<_, String>(
        "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, 'nst_')",
    )
    .fetch_all(admin)
    .await
    else {
        return;
    };
    for name in names {
        let created = name
            .strip_prefix(SCHEMA_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|c| c + STALE_AFTER_SECS < now) {
            let _ = sqlx::query(AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE"
            )))
            .execute(admin)
            .await;
        }
    }
}

/// An error with its sources, for panic messages.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Runs each named test (`async fn name(db: &TestDb)`) against SQLite and PostgreSQL, as
/// `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let db = $crate::common::TestDb::sqlite();
                super::$name(&db).await;
                db.cleanup().await;
            }

            #[tokio::test]
            async fn postgres() {
                let Some(db) = $crate::common::TestDb::postgres().await else {
                    return;
                };
                super::$name(&db).await;
                db.cleanup().await;
            }
        }
    )*};
}

/// A fixed moment plus `minutes`; whole seconds, so PostgreSQL's microseconds lose nothing.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 3, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

/// The Deployment most tests are about.
pub fn checkout() -> ResourceRef {
    ResourceRef::deployment("shop", "checkout")
}

/// An Alertmanager signal.
pub fn alert(fingerprint: &str, status: SignalStatus, resource: &ResourceRef) -> Signal {
    Signal {
        fingerprint: fingerprint.to_owned(),
        source: SignalSource::Alertmanager,
        status,
        name: "KubePodCrashLooping".to_owned(),
        labels: BTreeMap::from([
            ("namespace".to_owned(), "shop".to_owned()),
            ("severity".to_owned(), "critical".to_owned()),
        ]),
        annotations: BTreeMap::from([(
            "summary".to_owned(),
            format!("{resource} is crash looping"),
        )]),
        starts_at: at(0),
        ends_at: (status == SignalStatus::Resolved).then(|| at(30)),
        resource: Some(resource.clone()),
    }
}

/// One round of evidence.
pub fn evidence() -> Evidence {
    Evidence {
        items: vec![EvidenceItem {
            id: EvidenceId("E1".into()),
            kind: EvidenceKind::Logs,
            resource: ResourceRef::Pod {
                namespace: "shop".into(),
                name: "checkout-7d9f-abcde".into(),
            },
            summary: "previous container: panic: nil map".into(),
            data: EvidenceData::Logs {
                pod: "checkout-7d9f-abcde".into(),
                container: "app".into(),
                previous: true,
                lines: vec![
                    "starting".into(),
                    "panic: assignment to entry in nil map".into(),
                ],
                total_lines: 2,
                owner: None,
            },
            observed_at: at(1),
        }],
        bytes: 180,
        truncated: 0,
    }
}

/// The rollback plan.
pub fn rollback_plan() -> Plan {
    Plan {
        action: Action::Rollback {
            target: checkout(),
            revision: None,
        },
        confidence: 0.85,
        rationale: "crashes started with revision 7".into(),
        expected_outcome: "pods Ready, restarts flat for 5m".into(),
    }
}

/// A bad-release diagnosis with two plans.
pub fn analysis() -> Analysis {
    Analysis {
        diagnosis: Diagnosis {
            category: Category::BadRelease,
            summary: "revision 7 panics on start".into(),
            evidence: vec![EvidenceId("E1".into())],
            root_cause: checkout(),
            confidence: 0.9,
        },
        plans: vec![
            rollback_plan(),
            Plan {
                action: Action::Escalate {
                    reason: "if rollback fails".into(),
                },
                confidence: 0.1,
                rationale: "fallback".into(),
                expected_outcome: "a human looks".into(),
            },
        ],
        analyzer: "rules".into(),
        notes: vec![],
    }
}

/// A decision that needs approval.
pub fn needs_approval() -> Decision {
    Decision {
        verdict: Verdict::NeedsApproval,
        risk: Risk::Medium,
        rule: "mode: approve (namespace shop)".into(),
        factors: vec!["criticality: high".into()],
    }
}

/// A new incident about `resource`, opened by the Alertmanager signal `fingerprint`.
pub fn new_incident(resource: &ResourceRef, fingerprint: Option<&str>) -> NewIncident {
    NewIncident {
        resource: resource.clone(),
        title: format!("{resource} is crash looping"),
        opened_at: at(0),
        signal: fingerprint.map(|f| SignalKey {
            source: SignalSource::Alertmanager,
            fingerprint: f.to_owned(),
        }),
    }
}

/// Moves an incident along the happy path to `planned`, one update per step.
pub async fn to_planned(store: &Store, stored: &mut StoredIncident) {
    for (i, to) in [State::Collecting, State::Analyzing, State::Planned]
        .into_iter()
        .enumerate()
    {
        let entry = stored.transition(to, at(i as i64 + 1), "next").unwrap();
        store.update_incident(stored, &[entry]).await.unwrap();
    }
}

/// A note at `minute`.
pub fn note(minute: i64, message: &str) -> TimelineEntry {
    TimelineEntry {
        at: at(minute),
        kind: TimelineKind::Note,
        message: message.to_owned(),
        data: serde_json::json!({ "n": message }),
    }
}
