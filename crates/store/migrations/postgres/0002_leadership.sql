-- Leadership among replicas sharing this record: one row, whose term grows each time a
-- replica takes the lead. An intent is recorded only under the current term (fencing).
CREATE TABLE leadership (
    id     BIGINT PRIMARY KEY CHECK (id = 1),
    term   BIGINT NOT NULL,
    holder TEXT NOT NULL,
    since  TIMESTAMPTZ NOT NULL
);
ALTER TABLE actions ADD COLUMN term BIGINT;
