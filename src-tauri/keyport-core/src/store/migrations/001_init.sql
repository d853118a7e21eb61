-- Connections: one row per connected (or connecting) account. No secrets:
-- tokens live in the keyring under `connection:<id>`.
CREATE TABLE connections (
    id                 TEXT PRIMARY KEY,
    integration        TEXT NOT NULL,
    provider           TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN
                         ('initiated', 'active', 'degraded', 'needs_reauth', 'failed')),
    label              TEXT,
    subject            TEXT,
    email              TEXT,
    display_name       TEXT,
    requested_scopes   TEXT NOT NULL DEFAULT '[]',
    granted_scopes     TEXT NOT NULL DEFAULT '[]',
    missing_scopes     TEXT NOT NULL DEFAULT '[]',
    redirect_mode      TEXT NOT NULL,
    profile            TEXT,
    last_error_code    TEXT,
    last_error_message TEXT,
    last_checked_at    INTEGER,
    last_check_ok      INTEGER,
    -- Refresh backoff after transient failures (ms since epoch).
    refresh_failures   INTEGER NOT NULL DEFAULT 0,
    retry_after        INTEGER,
    last_refreshed_at  INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
-- The same provider account is one connection per integration.
CREATE UNIQUE INDEX connections_account ON connections (integration, subject)
    WHERE subject IS NOT NULL;
CREATE INDEX connections_email ON connections (email);

-- Authorization flows in progress. The PKCE verifier is in the keyring
-- (`flow:<id>`); only the state's SHA-256 is kept here. Finished flows stay a
-- day as tombstones so a replayed state is recognised.
CREATE TABLE pending_flows (
    id                   TEXT PRIMARY KEY,
    connection_id        TEXT NOT NULL,
    state_hash           TEXT NOT NULL UNIQUE,
    integration          TEXT NOT NULL,
    purpose              TEXT NOT NULL CHECK (purpose IN ('connect', 'reconnect', 'grant')),
    redirect_mode        TEXT NOT NULL,
    redirect_uri         TEXT NOT NULL,
    requested_scopes     TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN
                           ('pending', 'exchanging', 'completed', 'failed')),
    result_connection_id TEXT,
    error_code           TEXT,
    error_message        TEXT,
    created_at           INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL,
    finished_at          INTEGER,
    -- 1 once the verifier is gone from the keyring.
    secret_cleared       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX pending_flows_connection ON pending_flows (connection_id);

-- OAuth clients per provider. The client secret, if any, is in the keyring
-- (`client:<provider>`); `has_secret` only says that it is.
CREATE TABLE oauth_clients (
    provider   TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    has_secret INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);

-- Append-only history. Never secrets: codes and human sentences only.
CREATE TABLE events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    connection_id TEXT,
    integration   TEXT,
    at            INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    code          TEXT,
    message       TEXT
);
CREATE INDEX events_connection ON events (connection_id, id);

-- Revocations still owed to a provider (RFC 7009). The token to revoke is
-- the connection's keyring entry, kept until the provider confirms; the
-- connection row itself is already gone.
CREATE TABLE revocations (
    connection_id TEXT PRIMARY KEY,
    integration   TEXT NOT NULL,
    provider      TEXT NOT NULL,
    email         TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    last_error    TEXT
);
