-- Console sign-in sessions. Only a SHA-256 digest of the cookie's token is stored, so a copy
-- of the database cannot be used to sign in. A session ends when it expires (idle or
-- absolute), is revoked (sign-out, a password change or reset), or its user is deleted.
CREATE TABLE console_sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    user_agent TEXT,
    client_addr TEXT
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
