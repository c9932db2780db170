-- Attribution on every call: the end user the client names and the operator's tags (`k=v`
-- sorted by name, joined by commas). `trace_id` has been a column from the start. Only calls
-- that name an end user enter its index; every call has a trace id, so it gets none (an index
-- written on every insert; look a trace up within a time range).
ALTER TABLE calls ADD COLUMN end_user TEXT;
ALTER TABLE calls ADD COLUMN tags TEXT;
CREATE INDEX calls_end_user ON calls (end_user, id) WHERE end_user IS NOT NULL;
