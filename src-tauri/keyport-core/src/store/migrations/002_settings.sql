-- App-wide preferences (never secrets): the default redirect mode and the
-- relay page URL.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
