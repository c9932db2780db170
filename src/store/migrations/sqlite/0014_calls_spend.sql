-- Spend of the stored, finished call records per key, user and UTC day (`day` = started_at /
-- 86400000), kept with the records (store/spend.rs), so start-up seeds the budgets from it and
-- calls_spend_archived instead of summing every record. Seeded from the records finished now;
-- those still running count when they finish.
CREATE TABLE calls_spend (
    key_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    cost BIGINT NOT NULL,
    PRIMARY KEY (key_id, user_id, day)
);
INSERT INTO calls_spend (key_id, user_id, day, cost)
SELECT key_id, user_id, started_at / 86400000, CAST(SUM(cost) AS BIGINT) FROM calls
WHERE status <> 'processing' AND cost <> 0
GROUP BY key_id, user_id, started_at / 86400000;
