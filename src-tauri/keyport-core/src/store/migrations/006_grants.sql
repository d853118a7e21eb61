-- Account grants. Google keeps one grant per account per OAuth client, and
-- revoking any of its tokens revokes all of it; so Keyport keeps one refresh
-- token per account grant, and integrations (Gmail, Calendar, Drive) are
-- connections enabled on it. A grant's tokens are the keyring entry
-- `connection:<grant id>`: a grant's id is the id of the connection that
-- first signed in for it (the name earlier versions gave that entry).
CREATE TABLE grants (
    id         TEXT PRIMARY KEY,
    provider   TEXT NOT NULL,
    -- The OAuth client the grant is with; '' for a grant made before
    -- clients were recorded (it matches the provider's current client).
    client_id  TEXT NOT NULL DEFAULT '',
    subject    TEXT NOT NULL,
    email      TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX grants_account ON grants (provider, subject);

ALTER TABLE connections ADD COLUMN grant_id TEXT;
CREATE INDEX connections_grant ON connections (grant_id);

-- An owed revocation names its account: it is not sent while Keyport holds
-- a grant of that account again (revoking would end that one too).
ALTER TABLE revocations ADD COLUMN subject TEXT;

-- Every connected account so far had tokens of its own: a grant each. Two
-- integrations of one account stay two grants; Keyport never revokes while
-- another grant of the account remains.
INSERT INTO grants (id, provider, client_id, subject, email, created_at, updated_at)
    SELECT id, provider, '', subject, email, created_at, updated_at
    FROM connections WHERE subject IS NOT NULL;
UPDATE connections SET grant_id = id WHERE subject IS NOT NULL;
