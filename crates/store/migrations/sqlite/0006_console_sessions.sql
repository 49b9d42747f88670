-- The web console's sessions and its OIDC sign-ins in progress, shared by every replica so that
-- a browser behind a load balancer stays signed in whichever replica answers.
-- Kept in step with ../postgres/0006_console_sessions.sql.
--
-- `key_hash`: SHA-256 of the cookie's (or the OIDC state's) value, in hex: the values
-- themselves are never stored, so reading the database does not give a session away.
-- `kind`: `session` or `oidc`. `body`: what the console keeps (identity, CSRF token, the
-- message to show once; or the nonce, PKCE verifier and where to go back).
-- `expires_ms`: milliseconds since the epoch; rows past it are ignored and deleted.
CREATE TABLE console_sessions (
    key_hash   TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX console_sessions_expiry ON console_sessions (kind, expires_ms);
