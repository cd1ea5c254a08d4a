-- legnext-queue schema, version 8: Legnext job ids are looked up.
-- By hand:  (echo 'BEGIN IMMEDIATE;'; cat migrations/0008_remote_job_id_index.sql; echo 'COMMIT;') | sqlite3 -bail queue.db
--
-- Settling an uncertain job asks which of Legnext's running jobs a row already holds, and an
-- adoption refuses a Legnext id another row holds: without an index each was a scan of the whole
-- table (a million rows: a fraction of a second per look). Only rows that have an id are indexed.

CREATE INDEX jobs_remote_job_id ON jobs (remote_job_id) WHERE remote_job_id IS NOT NULL;

INSERT INTO schema_migrations (version, name) VALUES (8, '0008_remote_job_id_index');
