-- Embedding vectors of knowledge-base entries, when an embeddings endpoint is configured
-- (docs/knowledge.md#embeddings). Kept in step with ../sqlite/0009_kb_vectors.sql.
--
-- One vector per entry and space (`openai:text-embedding-3-small`: the model that made it);
-- `vector` holds unit-length 32-bit floats, little-endian, so that the agent compares them by
-- a dot product (the same bytes on both databases; pgvector is not needed). `text_hash` is
-- the hash of the text the vector was made from, and `kb_entries.text_hash` the hash of the
-- entry's text now: where they differ (a note was added) the vector is made again. A vector
-- written again gets a new `seq`, so an agent reads only the vectors written since it last
-- looked.
ALTER TABLE kb_entries ADD COLUMN text_hash BIGINT NOT NULL DEFAULT 0;

CREATE TABLE kb_vectors (
    seq       BIGSERIAL PRIMARY KEY,
    id        TEXT NOT NULL REFERENCES kb_entries (id) ON DELETE CASCADE,
    space     TEXT NOT NULL,
    text_hash BIGINT NOT NULL,
    vector    BYTEA NOT NULL,
    UNIQUE (id, space)
);
CREATE INDEX kb_vectors_space ON kb_vectors (space, seq);
