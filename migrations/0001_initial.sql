-- legnext-queue schema, version 1.
-- Applied by `legnext-queue migrate` (and at daemon start-up) inside one IMMEDIATE transaction.
-- By hand:  (echo 'BEGIN IMMEDIATE;'; cat migrations/0001_initial.sql; echo 'COMMIT;') | sqlite3 -bail queue.db
-- Timestamps are UTC ISO-8601 text with milliseconds, e.g. 2026-11-26T19:45:12.345Z.

CREATE TABLE schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- The Legnext endpoints a job can target. prompt_field names the request field the
-- `prompt` column fills; follow_up kinds act on an earlier job (parent_id or params.jobId).
CREATE TABLE kinds (
    name            TEXT PRIMARY KEY,
    prompt_field    TEXT,
    prompt_required INTEGER NOT NULL CHECK (prompt_required IN (0, 1)),
    follow_up       INTEGER NOT NULL CHECK (follow_up IN (0, 1))
) WITHOUT ROWID;

INSERT INTO kinds (name, prompt_field, prompt_required, follow_up) VALUES
    ('diffusion',         'text',        1, 0),
    ('variation',         'remixPrompt', 0, 1),
    ('upscale',           NULL,          0, 1),
    ('reroll',            NULL,          0, 1),
    ('blend',             NULL,          0, 0),
    ('describe',          NULL,          0, 0),
    ('shorten',           'prompt',      1, 0),
    ('pan',               'remixPrompt', 0, 1),
    ('outpaint',          'remixPrompt', 0, 1),
    ('inpaint',           'remixPrompt', 0, 1),
    ('remix',             'remixPrompt', 1, 1),
    ('edit',              'remixPrompt', 1, 1),
    ('upload-paint',      'remixPrompt', 1, 0),
    ('retexture',         'remixPrompt', 1, 0),
    ('remove-background', NULL,          0, 0),
    ('enhance',           NULL,          0, 1),
    ('video-diffusion',   'prompt',      1, 0),
    ('extend-video',      'prompt',      0, 1),
    ('video-upscale',     NULL,          0, 1);

CREATE TABLE states (
    name     TEXT PRIMARY KEY,
    position INTEGER NOT NULL UNIQUE,
    terminal INTEGER NOT NULL CHECK (terminal IN (0, 1)),
    meaning  TEXT NOT NULL
) WITHOUT ROWID;

INSERT INTO states (name, position, terminal, meaning) VALUES
    ('queued',     1, 0, 'waiting to be submitted'),
    ('submitting', 2, 0, 'claimed; the POST to Legnext is being sent'),
    ('pending',    3, 0, 'accepted by Legnext, waiting to start'),
    ('staged',     4, 0, 'accepted by Legnext, staged'),
    ('processing', 5, 0, 'rendering at Legnext'),
    ('completed',  6, 1, 'finished; outputs in job_outputs'),
    ('failed',     7, 1, 'finished without output; see error'),
    ('cancelled',  8, 1, 'cancelled before it was submitted'),
    ('uncertain',  9, 1, 'the POST may have reached Legnext but no answer came; held, never resent without `retry`');

-- The rules below are CHECK constraints (not triggers) because they cost almost nothing per row;
-- their names are the messages a person at the sqlite3 prompt sees when a row breaks one.
-- The kind lists repeat the kinds table (a test keeps them equal).
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL DEFAULT 'diffusion',
    prompt          TEXT,
    params          TEXT NOT NULL DEFAULT '{}',
    tag             TEXT,
    priority        INTEGER NOT NULL DEFAULT 0,
    run_after       TEXT,
    idempotency_key TEXT,
    parent_id       INTEGER REFERENCES jobs (id),
    state           TEXT NOT NULL DEFAULT 'queued',
    reason          TEXT,
    remote_job_id   TEXT,
    remote_status   TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    requests        INTEGER NOT NULL DEFAULT 0,
    next_poll_at    TEXT,
    progress_at     TEXT,
    error           TEXT,
    error_detail    TEXT,
    output          TEXT,
    credits_used    INTEGER,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    submitted_at    TEXT,
    finished_at     TEXT,
    CONSTRAINT "unknown kind: use one of diffusion, variation, upscale, reroll, blend, describe, shorten, pan, outpaint, inpaint, remix, edit, upload-paint, retexture, remove-background, enhance, video-diffusion, extend-video, video-upscale"
        CHECK (instr(',diffusion,variation,upscale,reroll,blend,describe,shorten,pan,outpaint,inpaint,remix,edit,upload-paint,retexture,remove-background,enhance,video-diffusion,extend-video,video-upscale,', ',' || kind || ',') > 0),
    CONSTRAINT "unknown state: use one of queued, submitting, pending, staged, processing, completed, failed, cancelled, uncertain (new jobs start as queued)"
        CHECK (instr(',queued,submitting,pending,staged,processing,completed,failed,cancelled,uncertain,', ',' || state || ',') > 0),
    CONSTRAINT "prompt is required for this kind (diffusion, shorten, video-diffusion, remix, edit, upload-paint, retexture)"
        CHECK (prompt IS NOT NULL OR instr(',diffusion,shorten,video-diffusion,remix,edit,upload-paint,retexture,', ',' || kind || ',') = 0),
    CONSTRAINT "prompt must not be empty (use NULL for no prompt)"
        CHECK (prompt != ''),
    CONSTRAINT "prompt is longer than 8192 characters"
        CHECK (length(prompt) <= 8192),
    CONSTRAINT "this kind takes no prompt (upscale, reroll, blend, describe, remove-background, enhance, video-upscale): put its settings in params"
        CHECK (prompt IS NULL OR instr(',upscale,reroll,blend,describe,remove-background,enhance,video-upscale,', ',' || kind || ',') = 0),
    CONSTRAINT "params must be a JSON object, e.g. '{""imageNo"": 0}'"
        CHECK (params = '{}' OR (json_valid(params) AND json_type(params) = 'object')),
    CONSTRAINT "this kind acts on an earlier job: set parent_id to a local job id or params.jobId to a Legnext job id"
        CHECK (parent_id IS NOT NULL OR instr(',variation,upscale,reroll,pan,outpaint,inpaint,remix,edit,enhance,extend-video,video-upscale,', ',' || kind || ',') = 0
               OR json_extract(params, '$.jobId') IS NOT NULL),
    CONSTRAINT "priority must be an integer"
        CHECK (typeof(priority) = 'integer'),
    CONSTRAINT "run_after must be UTC like 2026-11-27T10:00:00.000Z; strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+1 hour') makes one"
        CHECK (run_after IS NULL OR run_after IS strftime('%Y-%m-%dT%H:%M:%fZ', run_after))
);

-- Claim order: highest priority first, then oldest.
CREATE INDEX jobs_claim ON jobs (priority DESC, id) WHERE state = 'queued';
-- The next delayed job to wake for.
CREATE INDEX jobs_due ON jobs (run_after) WHERE state = 'queued' AND run_after IS NOT NULL;
-- Counts per state, listings by state, in-flight lookups (rowid is part of every index).
CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_tag ON jobs (tag) WHERE tag IS NOT NULL;
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_parent ON jobs (parent_id) WHERE parent_id IS NOT NULL;

-- Append-only history: one row per state change (written by the trigger below, so a change
-- made from the sqlite3 shell is recorded too) and per error that did not change the state.
CREATE TABLE job_events (
    id         INTEGER PRIMARY KEY,
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    from_state TEXT,
    to_state   TEXT,
    detail     TEXT
);
CREATE INDEX job_events_job ON job_events (job_id, id);

-- One row per output of a completed job: kind 'grid' (the 2x2 image), 'image', 'video' or 'text'.
CREATE TABLE job_outputs (
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('grid', 'image', 'video', 'text')),
    idx        INTEGER NOT NULL,
    url        TEXT,
    text       TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (job_id, kind, idx)
) WITHOUT ROWID;

-- The running daemon (at most one row): heartbeat, limits and pause reason for `status`.
CREATE TABLE daemon (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    pid           INTEGER NOT NULL,
    hostname      TEXT NOT NULL,
    version       TEXT NOT NULL,
    base_url      TEXT NOT NULL,
    concurrency   INTEGER NOT NULL,
    rate          REAL NOT NULL,
    started_at    TEXT NOT NULL,
    heartbeat_at  TEXT NOT NULL,
    stopped_at    TEXT,
    paused_reason TEXT,
    paused_since  TEXT,
    in_flight     INTEGER NOT NULL DEFAULT 0,
    current_rate  REAL
);

-- Jobs per state without counting a million rows: state_counts holds the jobs with
-- id <= totals.counted_through (kept by the update and delete triggers below); newer rows are
-- counted on the fly and folded in now and then (`enqueue`, the daemon). No insert trigger:
-- it would cost a sub-program per inserted row, half the time of a bulk import.
CREATE TABLE state_counts (
    state TEXT PRIMARY KEY,
    jobs  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO state_counts (state) SELECT name FROM states;

CREATE TABLE totals (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    credits_used    INTEGER NOT NULL DEFAULT 0,
    counted_through INTEGER NOT NULL DEFAULT 0
);
INSERT INTO totals (id) VALUES (1);

-- Every state change appends its event in the same transaction, whoever made it.
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
    UPDATE jobs SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.id AND NEW.updated_at IS OLD.updated_at;
END;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF state ON jobs
WHEN NEW.state IS NOT OLD.state AND OLD.id <= (SELECT counted_through FROM totals WHERE id = 1)
BEGIN
    UPDATE state_counts SET jobs = jobs - 1 WHERE state = OLD.state;
    UPDATE state_counts SET jobs = jobs + 1 WHERE state = NEW.state;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs
WHEN OLD.id <= (SELECT counted_through FROM totals WHERE id = 1)
BEGIN
    UPDATE state_counts SET jobs = jobs - 1 WHERE state = OLD.state;
END;

CREATE TRIGGER jobs_credits_total AFTER UPDATE OF credits_used ON jobs
WHEN NEW.credits_used IS NOT OLD.credits_used
BEGIN
    UPDATE totals SET credits_used = credits_used + coalesce(NEW.credits_used, 0) - coalesce(OLD.credits_used, 0);
END;

CREATE TRIGGER jobs_credits_delete AFTER DELETE ON jobs
WHEN OLD.credits_used IS NOT NULL
BEGIN
    UPDATE totals SET credits_used = credits_used - OLD.credits_used;
END;

-- Views for people.
CREATE VIEW queue_summary AS
SELECT s.name AS state,
       c.jobs + (SELECT count(*) FROM jobs AS j
                 WHERE j.state = s.name AND j.id > (SELECT counted_through FROM totals WHERE id = 1)) AS jobs,
       s.meaning
FROM states AS s JOIN state_counts AS c ON c.state = s.name
ORDER BY s.position;

CREATE VIEW jobs_in_flight AS
SELECT id, kind, tag, state, remote_job_id, submitted_at,
       round((julianday('now') - julianday(submitted_at)) * 86400, 1) AS seconds_in_flight,
       substr(prompt, 1, 60) AS prompt
FROM jobs
WHERE state IN ('submitting', 'pending', 'staged', 'processing');

CREATE VIEW recent_failures AS
SELECT id, kind, tag, state, finished_at, error, substr(prompt, 1, 60) AS prompt
FROM jobs
WHERE state IN ('failed', 'uncertain')
ORDER BY id DESC;

CREATE VIEW outputs AS
SELECT o.job_id, j.tag, o.kind, o.idx, o.url, o.text, substr(j.prompt, 1, 60) AS prompt
FROM job_outputs AS o JOIN jobs AS j ON j.id = o.job_id;

INSERT INTO schema_migrations (version, name) VALUES (1, '0001_initial');
