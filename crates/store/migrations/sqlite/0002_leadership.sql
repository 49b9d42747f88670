-- Leadership among replicas sharing this record: one row, whose term grows each time a
-- replica takes the lead. An intent is recorded only under the current term (fencing).
CREATE TABLE leadership (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    term   INTEGER NOT NULL,
    holder TEXT NOT NULL,
    since  TEXT NOT NULL
);
ALTER TABLE actions ADD COLUMN term INTEGER;
