-- The knowledge base: closed incidents and imported postmortems and runbooks, ranked by
-- full-text search (ts_rank_cd over a GIN-indexed tsvector) and structured matches. Kept in
-- step with ../sqlite/0007_knowledge.sql.
--
-- `body`: the entry whole. `text`: the words that are indexed, already folded by Rust
-- (`nightshift_core::knowledge::words`); the `simple` configuration neither stems nor drops
-- words, so both databases see the same tokens.
CREATE TABLE kb_entries (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    source      TEXT NOT NULL,
    category    TEXT,
    namespace   TEXT,
    resource    TEXT,
    outcome     TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    body        JSONB NOT NULL,
    text        TEXT NOT NULL,
    tsv         TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED
);
CREATE INDEX kb_entries_resource ON kb_entries (resource, occurred_at);
CREATE INDEX kb_entries_category ON kb_entries (category, occurred_at);
-- fastupdate off: new entries go into the index at once rather than into a pending list that
-- every search must read through until a vacuum merges it (a few milliseconds a search after
-- a thousand writes). Entries are written once per ended incident; searches are many.
CREATE INDEX kb_entries_tsv ON kb_entries USING GIN (tsv) WITH (fastupdate = off);

-- How many entries hold each word (`entries`), and under the empty word, which no text holds,
-- how many entries there are: what a search reads to weigh its words by rarity (IDF) and to
-- leave out of the full-text query the words so common that ranking every entry holding them
-- would be slow and tell little. Kept by the store as it writes entries, in the same
-- transaction (a row trigger would update a common word's row once per entry of a batch).
CREATE TABLE kb_terms (
    term    TEXT PRIMARY KEY,
    entries BIGINT NOT NULL
);
