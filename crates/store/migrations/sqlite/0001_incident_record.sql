-- The durable incident record (SQLite). Every domain value is kept whole as JSON in `body`;
-- the scalar columns beside it are copies for filters, joins and indexes.
-- Kept in step with ../postgres/0001_incident_record.sql: same tables, same columns.

-- Named counters; `incident` allocates inc-000001, inc-000002, ...
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
INSERT INTO counters (name, value) VALUES ('incident', 0);

CREATE TABLE incidents (
    id           TEXT PRIMARY KEY,
    seq          INTEGER NOT NULL UNIQUE,
    state        TEXT NOT NULL,
    resource_key TEXT NOT NULL,
    title        TEXT NOT NULL,
    category     TEXT,
    root_cause   TEXT,
    attempts     INTEGER NOT NULL,
    opened_at    TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    resolved_at  TEXT,
    version      INTEGER NOT NULL,
    body         TEXT NOT NULL
) STRICT;
CREATE INDEX incidents_state ON incidents (state);
CREATE INDEX incidents_resource ON incidents (resource_key, seq);

-- One row per (source, fingerprint); repeats update it. `prev_status` is the status before
-- the latest delivery, so one upsert tells a new signal from a repeat.
CREATE TABLE signals (
    id           INTEGER PRIMARY KEY,
    source       TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       TEXT NOT NULL,
    prev_status  TEXT,
    name         TEXT NOT NULL,
    resource_key TEXT,
    incident_id  TEXT REFERENCES incidents (id),
    starts_at    TEXT NOT NULL,
    ends_at      TEXT,
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    deliveries   INTEGER NOT NULL,
    body         TEXT NOT NULL,
    UNIQUE (source, fingerprint)
) STRICT;
CREATE INDEX signals_incident ON signals (incident_id);

-- The audit log: append-only, ordered by `seq`.
CREATE TABLE timeline (
    seq         INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    body        TEXT NOT NULL
) STRICT;
CREATE INDEX timeline_incident ON timeline (incident_id, seq);
CREATE TRIGGER timeline_no_update BEFORE UPDATE ON timeline
BEGIN
    SELECT RAISE(ABORT, 'the timeline is append-only');
END;
CREATE TRIGGER timeline_no_delete BEFORE DELETE ON timeline
BEGIN
    SELECT RAISE(ABORT, 'the timeline is append-only');
END;

CREATE TABLE evidence (
    id           INTEGER PRIMARY KEY,
    incident_id  TEXT NOT NULL REFERENCES incidents (id),
    round        INTEGER NOT NULL,
    collected_at TEXT NOT NULL,
    items        INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,
    body         TEXT NOT NULL,
    UNIQUE (incident_id, round)
) STRICT;

CREATE TABLE analyses (
    id          INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    attempt     INTEGER NOT NULL,
    analyzer    TEXT NOT NULL,
    category    TEXT NOT NULL,
    root_cause  TEXT NOT NULL,
    confidence  REAL NOT NULL,
    analyzed_at TEXT NOT NULL,
    body        TEXT NOT NULL
) STRICT;
CREATE INDEX analyses_incident ON analyses (incident_id, id);

-- The ranked candidate plans of each analysis, one row each, for outcome statistics.
CREATE TABLE plans (
    analysis_id INTEGER NOT NULL REFERENCES analyses (id),
    ordinal     INTEGER NOT NULL,
    action      TEXT NOT NULL,
    target_key  TEXT,
    confidence  REAL NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (analysis_id, ordinal)
) STRICT;
CREATE INDEX plans_action ON plans (action);

CREATE TABLE decisions (
    id          INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    attempt     INTEGER NOT NULL,
    action      TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    risk        TEXT NOT NULL,
    rule        TEXT NOT NULL,
    decided_at  TEXT NOT NULL,
    plan        TEXT NOT NULL,
    body        TEXT NOT NULL
) STRICT;
CREATE INDEX decisions_incident ON decisions (incident_id, id);

CREATE TABLE approvals (
    id           INTEGER PRIMARY KEY,
    incident_id  TEXT NOT NULL REFERENCES incidents (id),
    decision_id  INTEGER REFERENCES decisions (id),
    status       TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    deadline     TEXT NOT NULL,
    decided_by   TEXT,
    reason       TEXT,
    decided_at   TEXT
) STRICT;
CREATE INDEX approvals_incident ON approvals (incident_id, id);
CREATE INDEX approvals_deadline ON approvals (deadline) WHERE status = 'pending';
CREATE UNIQUE INDEX approvals_one_pending ON approvals (incident_id) WHERE status = 'pending';

-- Write-ahead intents: recorded before a change, marked done or failed after it.
CREATE TABLE actions (
    id              INTEGER PRIMARY KEY,
    incident_id     TEXT NOT NULL REFERENCES incidents (id),
    attempt         INTEGER NOT NULL,
    action          TEXT NOT NULL,
    target_key      TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL,
    intended_at     TEXT NOT NULL,
    finished_at     TEXT,
    outcome         TEXT,
    error           TEXT,
    body            TEXT NOT NULL
) STRICT;
CREATE INDEX actions_incident ON actions (incident_id, id);
CREATE INDEX actions_target ON actions (target_key, intended_at);
CREATE INDEX actions_unfinished ON actions (id) WHERE status = 'intended';
