-- A call cut short before the provider reported usage is charged on a counted estimate
-- (prompt from admission, output from the text relayed); this marks such records.
ALTER TABLE calls ADD COLUMN usage_estimated BOOLEAN NOT NULL DEFAULT FALSE;
