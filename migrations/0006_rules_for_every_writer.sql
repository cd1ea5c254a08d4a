-- legnext-queue schema, version 6: one set of rules for a job, whoever writes it.
-- By hand:  (echo 'BEGIN IMMEDIATE;'; cat migrations/0006_rules_for_every_writer.sql; echo 'COMMIT;') | sqlite3 -bail queue.db
--
-- What SQL can state about a row is refused at insert (and on every update), with the message a
-- person at the sqlite3 prompt reads as the constraint's name: every column's type, no NUL
-- character in text (it would be sent cut at the NUL), a positive id, a parent that is an
-- earlier job (so parents cannot form a cycle), no blank prompt, and each kind's documented
-- parameters. What SQL cannot state (unknown parameter names, every URL of a blend, JSON the
-- program cannot read) is checked when the daemon claims the job, which then fails it with the
-- same rule's message before any request leaves. A row that broke a rule before it existed
-- (or with the rules dropped) may still be moved to `failed`: each new rule ends in
-- `OR state = 'failed'`, so the daemon can quarantine it, and nothing else.
--
-- A job starts `queued` (or `cancelled`): every other state but `failed` is reached through a
-- claim, which counts an attempt, so `attempts > 0` tells a job the daemon has run from a row
-- typed in as `processing`. (A BEFORE INSERT trigger would say it too, at a sub-program per
-- inserted row: a third more time for a bulk insert.)
--
-- The rules go into the table's stored text as 0005 did (no rebuild of a million rows); the
-- same edit is checked below. Types are tested without typeof(), a function call per column per
-- row: in SQLite's sort order every text value is >= '' and below every blob (x''), and an
-- integer is equal to its own CAST AS INTEGER (a real with a fraction, or text, is not). Whitespace is what Swift's `isBlank` counts as whitespace
-- (Unicode White_Space), so the CLI and the shell refuse the same prompts.

PRAGMA writable_schema = ON;

UPDATE sqlite_schema SET sql = replace(sql,
    'CONSTRAINT "unknown kind: use one of',
    'CONSTRAINT "id must be a positive integer"
        CHECK (id > 0 OR state = ''failed''),
    CONSTRAINT "kind must be text (a kind name such as ''diffusion'')"
        CHECK ((kind >= '''' AND kind < x'''') OR state = ''failed''),
    CONSTRAINT "state must be text: new jobs start as ''queued''"
        CHECK ((state >= '''' AND state < x'''')),
    CONSTRAINT "prompt must be text (or NULL for no prompt)"
        CHECK (prompt IS NULL OR (prompt >= '''' AND prompt < x'''') OR state = ''failed''),
    CONSTRAINT "prompt must not contain a NUL character"
        CHECK (prompt IS NULL OR instr(CAST(prompt AS BLOB), x''00'') = 0 OR state = ''failed''),
    CONSTRAINT "prompt must not be blank (use NULL for no prompt)"
        CHECK (prompt IS NULL OR (prompt >= ''!'' AND prompt < char(127))
               OR trim(prompt, char(9, 10, 11, 12, 13, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288)) <> ''''
               OR state = ''failed''),
    CONSTRAINT "params must be text holding a JSON object, e.g. ''{""imageNo"": 0}''"
        CHECK ((params >= '''' AND params < x'''') OR state = ''failed''),
    CONSTRAINT "params must not contain a NUL character"
        CHECK (params = ''{}'' OR instr(CAST(params AS BLOB), x''00'') = 0 OR state = ''failed''),
    CONSTRAINT "tag must be text without NUL characters (or NULL)"
        CHECK (tag IS NULL OR ((tag >= '''' AND tag < x'''') AND instr(CAST(tag AS BLOB), x''00'') = 0) OR state = ''failed''),
    CONSTRAINT "idempotency_key must be non-empty text without NUL characters (or NULL)"
        CHECK (idempotency_key IS NULL OR ((idempotency_key >= '''' AND idempotency_key < x'''') AND idempotency_key <> ''''
               AND instr(CAST(idempotency_key AS BLOB), x''00'') = 0) OR state = ''failed''),
    CONSTRAINT "parent_id must be the id of an earlier job (a smaller id), or NULL"
        CHECK (parent_id IS NULL OR (parent_id = CAST(parent_id AS INTEGER) AND parent_id > 0 AND parent_id < id) OR state = ''failed''),
    CONSTRAINT "attempts and requests must be integers of 0 or more"
        CHECK (attempts = CAST(attempts AS INTEGER) AND attempts >= 0 AND requests = CAST(requests AS INTEGER) AND requests >= 0 OR state = ''failed''),
    CONSTRAINT "credits_used must be an integer (or NULL)"
        CHECK (credits_used IS NULL OR credits_used = CAST(credits_used AS INTEGER) OR state = ''failed''),
    CONSTRAINT "created_at and updated_at must be text times like 2026-11-27T10:00:00.000Z (leave them out for now)"
        CHECK ((created_at >= '''' AND created_at < x'''') AND (updated_at >= '''' AND updated_at < x'''') OR state = ''failed''),
    CONSTRAINT "remote_job_id, remote_status, reason, error, error_detail, output and callback_token are text written by legnext-queue"
        CHECK ((remote_job_id IS NULL OR (remote_job_id >= '''' AND remote_job_id < x'''')) AND (remote_status IS NULL OR (remote_status >= '''' AND remote_status < x''''))
               AND (reason IS NULL OR (reason >= '''' AND reason < x'''')) AND (error IS NULL OR (error >= '''' AND error < x''''))
               AND (error_detail IS NULL OR (error_detail >= '''' AND error_detail < x'''')) AND (output IS NULL OR (output >= '''' AND output < x''''))
               AND (callback_token IS NULL OR (callback_token >= '''' AND callback_token < x'''')) OR state = ''failed''),
    CONSTRAINT "run_after, next_poll_at, progress_at, submitted_at and finished_at must be text times (or NULL)"
        CHECK ((run_after IS NULL OR (run_after >= '''' AND run_after < x'''')) AND (next_poll_at IS NULL OR (next_poll_at >= '''' AND next_poll_at < x''''))
               AND (progress_at IS NULL OR (progress_at >= '''' AND progress_at < x'''')) AND (submitted_at IS NULL OR (submitted_at >= '''' AND submitted_at < x''''))
               AND (finished_at IS NULL OR (finished_at >= '''' AND finished_at < x'''')) OR state = ''failed''),
    CONSTRAINT "unknown kind: use one of')
WHERE type = 'table' AND name = 'jobs';

-- The documented parameters of each kind (legnext-api.md), after the JSON rule so that
-- json_type() only ever reads valid JSON. A diffusion job without params skips them all.
-- A CHECK that comes out NULL passes, so every test of an absent member is written with IS.
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (run_after IS NULL OR run_after IS strftime(''%Y-%m-%dT%H:%M:%fZ'', run_after))',
    'CHECK (run_after IS NULL OR run_after IS strftime(''%Y-%m-%dT%H:%M:%fZ'', run_after)),
    CONSTRAINT "only legnext-queue moves a job past queued: a new job starts as queued (or cancelled)"
        CHECK (state = ''queued'' OR state = ''cancelled'' OR state = ''failed'' OR attempts > 0),
    CONSTRAINT "params.maskFile is not accepted: the daemon never opens a file a row names; put the mask itself in params.mask"
        CHECK (params = ''{}'' OR json_type(params, ''$.maskFile'') IS NULL OR state = ''failed''),
    CONSTRAINT "params.callback is set by legnext-queue itself (see --callback-url); remove it"
        CHECK (params = ''{}'' OR json_type(params, ''$.callback'') IS NULL OR state = ''failed''),
    CONSTRAINT "params.imageNo must be an integer 0-3; variation, upscale, pan, outpaint, inpaint, remix, edit and enhance need it"
        CHECK ((kind = ''diffusion'' AND params = ''{}'')
               OR (json_type(params, ''$.imageNo'') IS ''integer'' AND json_extract(params, ''$.imageNo'') BETWEEN 0 AND 3)
               OR (json_type(params, ''$.imageNo'') IS NULL AND instr('',variation,upscale,pan,outpaint,inpaint,remix,edit,enhance,'', '','' || kind || '','') = 0)
               OR state = ''failed''),
    CONSTRAINT "params.type must be 0 or 1 (variation: 0 subtle, 1 strong; upscale: 0 subtle, 1 creative); both kinds need it"
        CHECK ((kind = ''diffusion'' AND params = ''{}'')
               OR (json_type(params, ''$.type'') IS ''integer'' AND json_extract(params, ''$.type'') BETWEEN 0 AND 1)
               OR (json_type(params, ''$.type'') IS NULL AND kind <> ''variation'' AND kind <> ''upscale'')
               OR state = ''failed''),
    CONSTRAINT "params.direction must be an integer 0-3; pan needs it"
        CHECK ((kind = ''diffusion'' AND params = ''{}'')
               OR (json_type(params, ''$.direction'') IS ''integer'' AND json_extract(params, ''$.direction'') BETWEEN 0 AND 3)
               OR (json_type(params, ''$.direction'') IS NULL AND kind <> ''pan'')
               OR state = ''failed''),
    CONSTRAINT "params.scale must be a number, 1.1-3.0 for pan and 1.1-2.0 for outpaint; both need it"
        CHECK ((kind = ''diffusion'' AND params = ''{}'')
               OR (coalesce(json_type(params, ''$.scale''), '''') IN (''integer'', ''real'') AND json_extract(params, ''$.scale'') >= 1.1
                   AND json_extract(params, ''$.scale'') <= CASE kind WHEN ''outpaint'' THEN 2.0 ELSE 3.0 END)
               OR (json_type(params, ''$.scale'') IS NULL AND kind <> ''pan'' AND kind <> ''outpaint'')
               OR state = ''failed''),
    CONSTRAINT "params.videoNo must be an integer 0-3; extend-video and video-upscale need it"
        CHECK ((kind = ''diffusion'' AND params = ''{}'')
               OR (json_type(params, ''$.videoNo'') IS ''integer'' AND json_extract(params, ''$.videoNo'') BETWEEN 0 AND 3)
               OR (json_type(params, ''$.videoNo'') IS NULL AND kind <> ''extend-video'' AND kind <> ''video-upscale'')
               OR state = ''failed''),
    CONSTRAINT "params.videoType, params.mode must be 0 or 1 when given"
        CHECK (params = ''{}''
               OR ((json_type(params, ''$.videoType'') IS NULL OR (json_type(params, ''$.videoType'') IS ''integer'' AND json_extract(params, ''$.videoType'') BETWEEN 0 AND 1))
                   AND (json_type(params, ''$.mode'') IS NULL OR (json_type(params, ''$.mode'') IS ''integer'' AND json_extract(params, ''$.mode'') BETWEEN 0 AND 1)))
               OR state = ''failed''),
    CONSTRAINT "params.jobId must be a Legnext job id (non-empty text)"
        CHECK (params = ''{}'' OR json_type(params, ''$.jobId'') IS NULL
               OR (json_type(params, ''$.jobId'') IS ''text'' AND trim(json_extract(params, ''$.jobId'')) <> '''')
               OR state = ''failed''),
    CONSTRAINT "params.text, params.prompt and params.remixPrompt must be text when given"
        CHECK (params = ''{}''
               OR ((json_type(params, ''$.text'') IS NULL OR json_type(params, ''$.text'') IS ''text'')
                   AND (json_type(params, ''$.prompt'') IS NULL OR json_type(params, ''$.prompt'') IS ''text'')
                   AND (json_type(params, ''$.remixPrompt'') IN (''text'', ''null'') OR json_type(params, ''$.remixPrompt'') IS NULL))
               OR state = ''failed''),
    CONSTRAINT "params.imgUrl must be an http(s) URL; describe, upload-paint, retexture and remove-background need it"
        CHECK ((kind = ''diffusion'' AND params = ''{}'')
               OR (json_type(params, ''$.imgUrl'') IS ''text''
                   AND (lower(substr(json_extract(params, ''$.imgUrl''), 1, 8)) = ''https://'' OR lower(substr(json_extract(params, ''$.imgUrl''), 1, 7)) = ''http://'')
                   AND length(json_extract(params, ''$.imgUrl'')) > 8 AND instr(json_extract(params, ''$.imgUrl''), '' '') = 0)
               OR (json_type(params, ''$.imgUrl'') IS NULL AND instr('',describe,upload-paint,retexture,remove-background,'', '','' || kind || '','') = 0)
               OR state = ''failed''),
    CONSTRAINT "params.imgUrls must be an array of 2-5 http(s) URLs; blend needs it"
        CHECK ((kind = ''diffusion'' AND params = ''{}'')
               OR (json_type(params, ''$.imgUrls'') IS ''array'' AND json_array_length(params, ''$.imgUrls'') BETWEEN 2 AND 5)
               OR (json_type(params, ''$.imgUrls'') IS NULL AND kind <> ''blend'')
               OR state = ''failed''),
    CONSTRAINT "params.aspect_ratio must be ''2:3'', ''1:1'' or ''3:2''; blend needs it"
        CHECK ((kind = ''diffusion'' AND params = ''{}'')
               OR json_extract(params, ''$.aspect_ratio'') IS ''2:3'' OR json_extract(params, ''$.aspect_ratio'') IS ''1:1''
               OR json_extract(params, ''$.aspect_ratio'') IS ''3:2''
               OR (json_type(params, ''$.aspect_ratio'') IS NULL AND kind <> ''blend'')
               OR state = ''failed'')')
WHERE type = 'table' AND name = 'jobs';

-- Every edit must have matched (a file changed by hand would otherwise be left half done).
CREATE TEMP TABLE migration_0006_guard (edited INTEGER CHECK (edited = 2));
INSERT INTO migration_0006_guard
SELECT (instr(sql, 'CONSTRAINT "id must be a positive integer"') > 0)
     + (instr(sql, 'CONSTRAINT "params.aspect_ratio must be') > 0)
FROM sqlite_schema WHERE type = 'table' AND name = 'jobs';
DROP TABLE migration_0006_guard;

-- Makes every connection read the edited schema again.
PRAGMA schema_version = 6006;
PRAGMA writable_schema = OFF;

-- Only the state machine's own steps (DESIGN §4), whoever writes: a job Legnext may be running
-- is never put back in the queue, and a completed one is never run again. The check sits in the
-- event trigger, which every state change runs anyway. A row in a state this program does not
-- know may only be moved to failed. RAISE takes only literal messages on the SQLite of Debian 12.
DROP TRIGGER jobs_state_event;
CREATE TRIGGER jobs_state_event AFTER UPDATE OF state ON jobs
WHEN NEW.state IS NOT OLD.state
BEGIN
    SELECT CASE
        WHEN OLD.state = 'queued' THEN
            CASE WHEN NEW.state = 'submitting' OR NEW.state = 'cancelled' OR NEW.state = 'failed' THEN NULL
            ELSE RAISE(ABORT, 'a queued job can only become submitting (the daemon claims it), cancelled or failed') END
        WHEN OLD.state = 'submitting' THEN
            CASE WHEN NEW.state = 'pending' OR NEW.state = 'staged' OR NEW.state = 'processing' OR NEW.state = 'queued'
                   OR NEW.state = 'failed' OR NEW.state = 'uncertain' OR NEW.state = 'cancelled' THEN NULL
            ELSE RAISE(ABORT, 'a submitting job can only become pending, staged, processing, queued (not sent), failed, uncertain or cancelled') END
        WHEN OLD.state = 'pending' OR OLD.state = 'staged' OR OLD.state = 'processing' THEN
            CASE WHEN NEW.state = 'pending' OR NEW.state = 'staged' OR NEW.state = 'processing' OR NEW.state = 'completed'
                   OR NEW.state = 'failed' OR NEW.state = 'cancelled' THEN NULL
            ELSE RAISE(ABORT, 'a job Legnext has accepted can only become pending, staged, processing, completed, failed or cancelled (`legnext-queue cancel --force`); putting it back in the queue would pay for it twice') END
        WHEN OLD.state = 'uncertain' THEN
            CASE WHEN NEW.state = 'queued' OR NEW.state = 'cancelled' OR NEW.state = 'failed' OR NEW.state = 'pending'
                   OR NEW.state = 'staged' OR NEW.state = 'processing' THEN NULL
            ELSE RAISE(ABORT, 'an uncertain job can only become queued (`legnext-queue retry`), cancelled, failed, or pending, staged or processing (a callback settles it)') END
        WHEN OLD.state = 'failed' OR OLD.state = 'cancelled' THEN
            CASE WHEN NEW.state = 'queued' THEN NULL
            ELSE RAISE(ABORT, 'a failed or cancelled job can only become queued again (`legnext-queue retry`)') END
        WHEN OLD.state = 'completed' THEN
            RAISE(ABORT, 'a completed job stays completed: enqueue a new job to render it again')
        ELSE
            CASE WHEN NEW.state = 'failed' THEN NULL
            ELSE RAISE(ABORT, 'this job is in a state legnext-queue does not know; it can only become failed') END
    END;
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

INSERT INTO schema_migrations (version, name) VALUES (6, '0006_rules_for_every_writer');
