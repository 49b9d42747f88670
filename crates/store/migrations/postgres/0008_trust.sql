-- The trust ladder: the fate of every proposal per namespace × action × category, each row's
-- mode when the agent promotes and demotes itself, and every change of mode. Kept in step with
-- ../sqlite/0008_trust.sql.
--
-- A fate is recorded once per incident and row (a second verification of the same action on
-- one incident adds nothing).
CREATE TABLE trust_events (
    id        BIGSERIAL PRIMARY KEY,
    namespace TEXT NOT NULL,
    action    TEXT NOT NULL,
    category  TEXT NOT NULL,
    incident  TEXT NOT NULL,
    fate      TEXT NOT NULL,
    at        TIMESTAMPTZ NOT NULL,
    by_whom   TEXT NOT NULL,
    detail    TEXT NOT NULL,
    UNIQUE (incident, namespace, action, category, fate)
);
CREATE INDEX trust_events_row ON trust_events (namespace, action, category, at);

-- `since`: the last demotion; fates before it no longer earn a promotion.
CREATE TABLE trust_rows (
    namespace  TEXT NOT NULL,
    action     TEXT NOT NULL,
    category   TEXT NOT NULL,
    mode       TEXT NOT NULL,
    pinned     BOOLEAN NOT NULL,
    since      TIMESTAMPTZ,
    changed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (namespace, action, category)
);

CREATE TABLE trust_changes (
    id        BIGSERIAL PRIMARY KEY,
    namespace TEXT NOT NULL,
    action    TEXT NOT NULL,
    category  TEXT NOT NULL,
    from_mode TEXT NOT NULL,
    to_mode   TEXT NOT NULL,
    pinned    BOOLEAN NOT NULL,
    reason    TEXT NOT NULL,
    by_whom   TEXT NOT NULL,
    at        TIMESTAMPTZ NOT NULL
);
