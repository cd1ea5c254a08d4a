-- legnext-queue schema, version 3: downloaded outputs, and the outbox of notifications.
-- By hand:  (echo 'BEGIN IMMEDIATE;'; cat migrations/0003_downloads_and_notifications.sql; echo 'COMMIT;') | sqlite3 -bail queue.db

-- Each image or video output is downloaded once (`--output-dir`): where it went, what it was.
-- download_state: NULL (not asked for), 'pending', 'done', 'failed' (see download_error).
ALTER TABLE job_outputs ADD COLUMN download_state TEXT
    CONSTRAINT "download_state must be pending, done or failed" CHECK (download_state IS NULL OR instr(',pending,done,failed,', ',' || download_state || ',') > 0);
ALTER TABLE job_outputs ADD COLUMN path TEXT;
ALTER TABLE job_outputs ADD COLUMN size INTEGER;
ALTER TABLE job_outputs ADD COLUMN content_type TEXT;
ALTER TABLE job_outputs ADD COLUMN sha256 TEXT;
ALTER TABLE job_outputs ADD COLUMN download_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE job_outputs ADD COLUMN download_error TEXT;
ALTER TABLE job_outputs ADD COLUMN next_download_at TEXT;
CREATE INDEX job_outputs_downloads ON job_outputs (next_download_at) WHERE download_state = 'pending';

DROP VIEW outputs;
CREATE VIEW outputs AS
SELECT o.job_id, j.tag, o.kind, o.idx, o.url, o.text, o.path, o.download_state, o.sha256, substr(j.prompt, 1, 60) AS prompt
FROM job_outputs AS o JOIN jobs AS j ON j.id = o.job_id;

-- Which deliveries the running daemon wants (set at its start): a job reaching an end then
-- gets one notification row per channel, in the same transaction as its state change.
ALTER TABLE daemon ADD COLUMN notify_channels TEXT NOT NULL DEFAULT '';

-- The outbox: one row per (job end, channel), delivered at least once. delivery_id is stable
-- across retries so a receiver can drop repeats.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    delivery_id     TEXT NOT NULL UNIQUE DEFAULT (lower(hex(randomblob(16)))),
    job_id          INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    channel         TEXT NOT NULL CONSTRAINT "channel must be webhook or command" CHECK (channel IN ('webhook', 'command')),
    job_state       TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
        CONSTRAINT "state must be pending, delivered or failed" CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_error      TEXT,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    delivered_at    TEXT
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE state = 'pending';
CREATE INDEX notifications_job ON notifications (job_id);

CREATE TRIGGER jobs_notify AFTER UPDATE OF state ON jobs
WHEN NEW.state IN ('completed', 'failed', 'cancelled', 'uncertain') AND OLD.state IS NOT NEW.state
    AND (SELECT notify_channels FROM daemon WHERE id = 1) <> ''
BEGIN
    INSERT INTO notifications (job_id, channel, job_state)
    SELECT NEW.id, value, NEW.state FROM json_each('["' || replace((SELECT notify_channels FROM daemon WHERE id = 1), ',', '","') || '"]');
END;

INSERT INTO schema_migrations (version, name) VALUES (3, '0003_downloads_and_notifications');
