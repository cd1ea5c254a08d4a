-- legnext-queue schema, version 4: the same rules, checked with less work per row.
-- By hand:  (echo 'BEGIN IMMEDIATE;'; cat migrations/0004_cheaper_checks.sql; echo 'COMMIT;') | sqlite3 -bail queue.db
--
-- `x IN ('a', 'b', 'c')` with three or more values makes SQLite build a temporary b-tree of the
-- list each time the statement runs: for the CHECK on job_outputs.kind that was five per
-- completed job, and one per state change for the notify trigger, about 5 % of the daemon's
-- CPU in a fast drain. instr() over a delimited list says the same and costs a string search.
-- job_outputs is rebuilt because SQLite cannot change a CHECK in place.

DROP VIEW outputs;

CREATE TABLE job_outputs_v4 (
    job_id            INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind              TEXT NOT NULL
        CONSTRAINT "output kind must be grid, image, video or text" CHECK (instr(',grid,image,video,text,', ',' || kind || ',') > 0),
    idx               INTEGER NOT NULL,
    url               TEXT,
    text              TEXT,
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    download_state    TEXT
        CONSTRAINT "download_state must be pending, done or failed" CHECK (download_state IS NULL OR instr(',pending,done,failed,', ',' || download_state || ',') > 0),
    path              TEXT,
    size              INTEGER,
    content_type      TEXT,
    sha256            TEXT,
    download_attempts INTEGER NOT NULL DEFAULT 0,
    download_error    TEXT,
    next_download_at  TEXT,
    PRIMARY KEY (job_id, kind, idx)
) WITHOUT ROWID;

INSERT INTO job_outputs_v4 (job_id, kind, idx, url, text, created_at, download_state, path, size, content_type, sha256,
                            download_attempts, download_error, next_download_at)
SELECT job_id, kind, idx, url, text, created_at, download_state, path, size, content_type, sha256,
       download_attempts, download_error, next_download_at
FROM job_outputs;

DROP TABLE job_outputs;
ALTER TABLE job_outputs_v4 RENAME TO job_outputs;
CREATE INDEX job_outputs_downloads ON job_outputs (next_download_at) WHERE download_state = 'pending';

CREATE VIEW outputs AS
SELECT o.job_id, j.tag, o.kind, o.idx, o.url, o.text, o.path, o.download_state, o.sha256, substr(j.prompt, 1, 60) AS prompt
FROM job_outputs AS o JOIN jobs AS j ON j.id = o.job_id;

DROP TRIGGER jobs_notify;
CREATE TRIGGER jobs_notify AFTER UPDATE OF state ON jobs
WHEN instr(',completed,failed,cancelled,uncertain,', ',' || NEW.state || ',') > 0 AND OLD.state IS NOT NEW.state
    AND (SELECT notify_channels FROM daemon WHERE id = 1) <> ''
BEGIN
    INSERT INTO notifications (job_id, channel, job_state)
    SELECT NEW.id, value, NEW.state FROM json_each('["' || replace((SELECT notify_channels FROM daemon WHERE id = 1), ',', '","') || '"]');
END;

-- The event trigger stamped updated_at for changes made outside legnext-queue with an UPDATE
-- whose WHERE was false for every change the daemon makes; as its own trigger with that test
-- in WHEN, the daemon's changes (three per job) skip it without running it.
DROP TRIGGER jobs_state_event;
CREATE TRIGGER jobs_state_event AFTER UPDATE OF state ON jobs
WHEN NEW.state IS NOT OLD.state
BEGIN
    INSERT INTO job_events (job_id, at, from_state, to_state, detail)
    VALUES (
        NEW.id,
        CASE WHEN NEW.updated_at IS OLD.updated_at
             THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') ELSE NEW.updated_at END,
        OLD.state, NEW.state,
        CASE WHEN NEW.reason IS OLD.reason AND NEW.updated_at IS OLD.updated_at
             THEN 'changed outside legnext-queue' ELSE NEW.reason END
    );
END;
CREATE TRIGGER jobs_state_stamp AFTER UPDATE OF state ON jobs
WHEN NEW.state IS NOT OLD.state AND NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE jobs SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

INSERT INTO schema_migrations (version, name) VALUES (4, '0004_cheaper_checks');
