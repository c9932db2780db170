-- Hourly and daily usage rollups (store/rollups.rs): one row per UTC hour and per UTC day
-- (`period`, `bucket` its start in Unix ms) for each user, key, app, model and provider
-- (empty when none). Latency histograms and failures per class are `index:count` texts.
CREATE TABLE call_rollups (
    period TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    app TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL,
    provider_id TEXT NOT NULL DEFAULT '',
    calls INTEGER NOT NULL DEFAULT 0,
    successes INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    failures_by_class TEXT NOT NULL DEFAULT '',
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    images INTEGER NOT NULL DEFAULT 0,
    cost INTEGER NOT NULL DEFAULT 0,
    duration_hist TEXT NOT NULL DEFAULT '',
    ttft_hist TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (period, bucket, user_id, key_id, app, model, provider_id)
);
CREATE INDEX call_rollups_user ON call_rollups (user_id, period, bucket);
-- The calls recorded before this table existed are rolled up at the next start-up.
INSERT INTO settings (name, value) VALUES ('rollups_pending', '1');
