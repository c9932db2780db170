-- The provider cost in the rollups (store/rollups.rs), so the stats answer the margin (cost -
-- provider_cost). Existing rows take their cost, the best figure for days whose records are
-- gone (records from before markups were charged at cost); every day whose records are kept
-- is recomputed from them at the next start-up (the records keep their provider cost).
ALTER TABLE call_rollups ADD COLUMN provider_cost INTEGER NOT NULL DEFAULT 0;
UPDATE call_rollups SET provider_cost = cost;
INSERT INTO settings (name, value) VALUES ('rollups_pending', '1') ON CONFLICT (name) DO NOTHING;
