-- The knowledge base: closed incidents and imported postmortems and runbooks, ranked by
-- full-text search (FTS5, bm25) and structured matches. Kept in step with
-- ../postgres/0007_knowledge.sql.
--
-- `body`: the entry whole (JSON). `text`: the words that are indexed, already folded by Rust
-- (`nightshift_core::knowledge::words`) so that both databases see the same tokens.
-- `resource`: the entry's resource (`deployment/shop/cart`), NULL for documents; with
-- `occurred_at` it finds earlier incidents of the same workload without the full-text index.
CREATE TABLE kb_entries (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    source      TEXT NOT NULL,
    category    TEXT,
    namespace   TEXT,
    resource    TEXT,
    outcome     TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    body        TEXT NOT NULL,
    text        TEXT NOT NULL
) STRICT;
CREATE INDEX kb_entries_resource ON kb_entries (resource, occurred_at);
CREATE INDEX kb_entries_category ON kb_entries (category, occurred_at);

-- How many entries hold each word (`entries`), and under the empty word, which no text holds,
-- how many entries there are: what a search reads to weigh its words by rarity (IDF) and to
-- leave out of the full-text query the words so common that ranking every entry holding them
-- would be slow and tell little. Kept by the store as it writes entries, in the same
-- transaction, as on PostgreSQL.
CREATE TABLE kb_terms (
    term    TEXT PRIMARY KEY,
    entries INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The index keeps no copy of the text (external content); triggers keep it in step.
CREATE VIRTUAL TABLE kb_fts USING fts5(text, content='kb_entries', content_rowid='seq');
CREATE TRIGGER kb_entries_ai AFTER INSERT ON kb_entries BEGIN
    INSERT INTO kb_fts (rowid, text) VALUES (new.seq, new.text);
END;
CREATE TRIGGER kb_entries_ad AFTER DELETE ON kb_entries BEGIN
    INSERT INTO kb_fts (kb_fts, rowid, text) VALUES ('delete', old.seq, old.text);
END;
CREATE TRIGGER kb_entries_au AFTER UPDATE ON kb_entries BEGIN
    INSERT INTO kb_fts (kb_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    INSERT INTO kb_fts (rowid, text) VALUES (new.seq, new.text);
END;
