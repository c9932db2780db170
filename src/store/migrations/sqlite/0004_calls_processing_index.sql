-- Only calls still running are looked up by status (start-up closes those a crash left
-- `processing`). A full index on status was written on every call's insert and again when
-- its status changed; this one holds running calls only, and a call whose start and finish
-- reach the database together never enters it.
DROP INDEX calls_status;
CREATE INDEX calls_processing ON calls (id) WHERE status = 'processing';
