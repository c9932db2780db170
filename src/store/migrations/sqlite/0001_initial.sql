-- Tollgate schema, SQLite flavour. Times are Unix milliseconds; money is integer nano-credits.
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE providers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    base_url TEXT,
    region TEXT,
    enabled BOOLEAN NOT NULL DEFAULT 1,
    timeouts TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    secret_masked TEXT NOT NULL,
    key_id TEXT NOT NULL,
    weight INTEGER NOT NULL DEFAULT 100,
    enabled BOOLEAN NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (provider_id, name)
);

CREATE TABLE models (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    fallbacks TEXT NOT NULL DEFAULT '[]',
    pricing TEXT,
    free BOOLEAN NOT NULL DEFAULT 0,
    enabled BOOLEAN NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE model_targets (
    id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    provider_id TEXT NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    upstream_model TEXT NOT NULL,
    weight INTEGER NOT NULL DEFAULT 100,
    pricing TEXT
);
CREATE INDEX model_targets_model ON model_targets (model_id, position);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT UNIQUE,
    role TEXT NOT NULL DEFAULT 'member',
    password_hash TEXT,
    balance INTEGER NOT NULL DEFAULT 0,
    plan TEXT NOT NULL DEFAULT 'prepaid',
    limits TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER
);

CREATE TABLE ledger (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL,
    amount INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    call_id TEXT,
    note TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX ledger_user ON ledger (user_id, id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    models TEXT,
    rpm INTEGER,
    tpm INTEGER,
    max_concurrency INTEGER,
    budget INTEGER,
    budget_period TEXT,
    expires_at INTEGER,
    revoked_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE calls (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    trace_id TEXT,
    user_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    app TEXT,
    dialect TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    model TEXT NOT NULL,
    provider_id TEXT,
    credential_id TEXT,
    upstream_model TEXT,
    stream BOOLEAN NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    http_status INTEGER,
    error_class TEXT,
    error_message TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    images INTEGER NOT NULL DEFAULT 0,
    cost INTEGER NOT NULL DEFAULT 0,
    price TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at INTEGER NOT NULL,
    duration_ms INTEGER,
    ttft_ms INTEGER,
    overhead_us INTEGER
);
CREATE INDEX calls_started ON calls (started_at);
CREATE INDEX calls_user ON calls (user_id, id);
CREATE INDEX calls_key ON calls (key_id, id);
CREATE INDEX calls_status ON calls (status);
