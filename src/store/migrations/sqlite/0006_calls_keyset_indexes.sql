-- The usage log pages newest first by (started_at, id) (store/call_list.rs). Every filter
-- the list takes gets an index ending in those columns, so a page is one index range read
-- however deep it is: the last page of ten million records costs what the first does.
DROP INDEX calls_started;
CREATE INDEX calls_started ON calls (started_at, id);
DROP INDEX calls_user;
CREATE INDEX calls_user ON calls (user_id, started_at, id);
DROP INDEX calls_key;
CREATE INDEX calls_key ON calls (key_id, started_at, id);
CREATE INDEX calls_model ON calls (model, started_at, id);
CREATE INDEX calls_provider ON calls (provider_id, started_at, id);
-- Failures are few among many calls: a partial index finds them without scanning successes.
CREATE INDEX calls_failed ON calls (started_at, id) WHERE status = 'failed';
