-- Spend of call records that retention archived and deleted, per key, user and UTC day
-- (`day` = started_at / 86400000), so budgets that look further back than the records kept
-- (all-time, monthly) still count it after a restart. Retention adds to it in the same
-- transaction as each delete; `tollgate archive import` takes back what it restores.
CREATE TABLE calls_spend_archived (
    key_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    cost BIGINT NOT NULL,
    PRIMARY KEY (key_id, user_id, day)
);
