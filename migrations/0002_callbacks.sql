-- legnext-queue schema, version 2: callbacks.
-- By hand:  (echo 'BEGIN IMMEDIATE;'; cat migrations/0002_callbacks.sql; echo 'COMMIT;') | sqlite3 -bail queue.db

-- The secret part of a job's callback URL (…/legnext/<id>/<token>), set when the daemon first
-- submits the job with callbacks on and kept across attempts, so a late callback of an earlier
-- attempt is still recognised. NULL when the job was never submitted with a callback.
ALTER TABLE jobs ADD COLUMN callback_token TEXT;

INSERT INTO schema_migrations (version, name) VALUES (2, '0002_callbacks');
