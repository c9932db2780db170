-- Azure OpenAI providers name the API version of their deployment URLs (NULL: the gateway's default).
ALTER TABLE providers ADD COLUMN api_version TEXT;
