-- The admin console (SPEC §9): people and their sessions, login attempts, named API tokens
-- and the audit log. Every secret is stored as the SHA-256 (hex) of a long random value, or
-- as an Argon2id PHC string for passwords. Keep in step with
-- migrations/postgres/0080_admin_console.sql.

CREATE TABLE admin_accounts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    email             TEXT NOT NULL UNIQUE,           -- lower case
    role              TEXT NOT NULL,                  -- admin | editor
    password_hash     TEXT,                           -- NULL until set through the one-time link
    setup_hash        TEXT UNIQUE,                    -- hash of the live set-password link, if any
    setup_expires_at  INTEGER,
    created_at        INTEGER NOT NULL,
    last_login_at     INTEGER
);

CREATE TABLE admin_sessions (
    hash          TEXT PRIMARY KEY NOT NULL,          -- hash of the cookie's session id
    account_id    INTEGER NOT NULL REFERENCES admin_accounts(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    client        TEXT NOT NULL
);
CREATE INDEX admin_sessions_account ON admin_sessions (account_id);

CREATE TABLE admin_login_attempts (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    email    TEXT NOT NULL,                           -- as typed (lower case), known or not
    client   TEXT NOT NULL,
    outcome  TEXT NOT NULL,                           -- success | failed | throttled
    at       INTEGER NOT NULL
);
CREATE INDEX admin_login_attempts_email ON admin_login_attempts (email, at);
CREATE INDEX admin_login_attempts_client ON admin_login_attempts (client, at);
CREATE INDEX admin_login_attempts_at ON admin_login_attempts (at);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,                      -- admin | editor
    hash          TEXT NOT NULL UNIQUE,
    created_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,                        -- a person's email, or "cli"
    kind        TEXT NOT NULL,
    target      TEXT NOT NULL,                        -- what was changed
    before_text TEXT,
    after_text  TEXT,
    client      TEXT                                  -- NULL for the command line
);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_kind ON audit_log (kind, id);
