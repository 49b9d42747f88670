-- The outbox: every timeline entry that people are told of gets one row per destination,
-- written in the same transaction as the entry. Each destination delivers its pending rows in
-- order, so one that is down holds back only its own deliveries, and none is lost; the row
-- keeps the outcome (delivered, failed after retrying, or skipped by routing).
CREATE TABLE outbox (
    destination TEXT NOT NULL,
    seq         INTEGER NOT NULL REFERENCES timeline (seq),
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    event       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    done_at     TEXT,
    PRIMARY KEY (destination, seq)
);
CREATE INDEX outbox_pending ON outbox (destination, seq) WHERE status = 'pending';
CREATE INDEX outbox_incident ON outbox (incident_id, seq);
-- What a destination keeps about an incident between deliveries (a chat message's id, to
-- update it in place rather than post again).
CREATE TABLE outbox_ref (
    destination TEXT NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    value       TEXT NOT NULL,
    PRIMARY KEY (destination, incident_id)
);
-- The destinations configured now: a notifiable entry gets one outbox row for each.
CREATE TABLE outbox_destination (
    name TEXT PRIMARY KEY
);
