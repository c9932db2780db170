-- The provider cost in the rollups (store/rollups.rs), so the stats answer the margin (cost -
-- provider_cost). An existing row's provider cost is its cost less the margin of the records
-- it counts that are still stored (a record from before markups has no provider cost: it was
-- charged at cost); records retention deleted count at cost, the best figure left.
ALTER TABLE call_rollups ADD COLUMN provider_cost INTEGER NOT NULL DEFAULT 0;
UPDATE call_rollups SET provider_cost = cost - COALESCE((
    SELECT SUM(c.cost - COALESCE(c.provider_cost, c.cost)) FROM calls c
    WHERE c.status <> 'processing' AND c.user_id = call_rollups.user_id AND c.key_id = call_rollups.key_id
        AND COALESCE(c.app, '') = call_rollups.app AND c.model = call_rollups.model
        AND COALESCE(c.provider_id, '') = call_rollups.provider_id
        AND c.started_at >= call_rollups.bucket
        AND c.started_at < call_rollups.bucket + CASE WHEN call_rollups.period = 'hour' THEN 3600000 ELSE 86400000 END
), 0);
