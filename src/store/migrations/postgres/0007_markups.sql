-- Markups (billing/markup.rs): a rule {multiplier (parts per million), request_fee
-- (nano-credits)} per provider and per model, as JSON; NULL sets nothing at that level.
ALTER TABLE providers ADD COLUMN markup TEXT;
ALTER TABLE models ADD COLUMN markup TEXT;
-- Each call's price snapshot: the base price list stays in `price`; the multiplier and fee
-- in force, the effective price list, and the provider cost (the call at the base price, so
-- margin = cost - provider_cost). NULL on records from before markups: ×1, at cost.
ALTER TABLE calls ADD COLUMN multiplier_ppm BIGINT;
ALTER TABLE calls ADD COLUMN request_fee BIGINT;
ALTER TABLE calls ADD COLUMN effective_price TEXT;
ALTER TABLE calls ADD COLUMN provider_cost BIGINT;
