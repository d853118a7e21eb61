-- Who used which connection: one row per token handed to a local program.
-- The program is what the OS reports for the process that asked (its
-- executable's name and path); never a token. Goes with its connection.
CREATE TABLE usage (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    at            INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    program       TEXT,
    program_path  TEXT
);
CREATE INDEX usage_connection ON usage (connection_id, id);
