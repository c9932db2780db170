-- The attempts of a call that failed over (or failed): provider, credential, upstream model,
-- class, HTTP status, duration and the gateway's description, as JSON. NULL on the common
-- path (one attempt that answered), so most rows carry nothing.
ALTER TABLE calls ADD COLUMN attempt_trail TEXT;
