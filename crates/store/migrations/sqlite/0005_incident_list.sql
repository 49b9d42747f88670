-- The incident list filters, orders and pages in the database (the console, the API).
-- Kept in step with ../postgres/0005_incident_list.sql.
--
-- `namespace`: the resource's namespace, NULL for cluster-scoped resources, external services
-- and storms (a resource key's second segment is not always one: `storm/alertmanager/Rule`).
-- `search`: the title and the resource key folded to lower case by Rust, a line apart, so that
-- a case-insensitive search folds the same way on both databases (SQLite's lower() and LIKE
-- fold ASCII only). Both are written with every incident; rows made before this migration are
-- filled in when the store opens (`search IS NULL`), from their bodies.
ALTER TABLE incidents ADD COLUMN namespace TEXT;
ALTER TABLE incidents ADD COLUMN search TEXT;

-- Newest first within a state or a namespace; `seq` alone is indexed by its UNIQUE constraint.
DROP INDEX incidents_state;
CREATE INDEX incidents_state ON incidents (state, seq);
CREATE INDEX incidents_namespace ON incidents (namespace, seq);
