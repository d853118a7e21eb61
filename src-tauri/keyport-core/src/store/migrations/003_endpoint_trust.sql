-- Each stored OAuth client is bound to the endpoint origins it was saved for
-- (JSON list; NULL for a client saved before origins were recorded: the
-- provider's built-in origins then). An integration whose endpoints lie
-- elsewhere gets no client until the person confirms them (endpoint_trust).
ALTER TABLE oauth_clients ADD COLUMN origins TEXT;

CREATE TABLE endpoint_trust (
    integration  TEXT PRIMARY KEY,
    origins      TEXT NOT NULL,
    confirmed_at INTEGER NOT NULL
);
