-- legnext-queue schema, version 7: a video made from an earlier image job.
-- By hand:  (echo 'BEGIN IMMEDIATE;'; cat migrations/0007_video_from_an_image.sql; echo 'COMMIT;') | sqlite3 -bail queue.db
--
-- Legnext's /v1/video-diffusion takes either a prompt ("<image url> text") or the jobId and
-- imageNo of an earlier image job, whose prompt is then optional. 0001 required a prompt for
-- every video-diffusion row; a row with a parent (or params.jobId) may now leave it out. The
-- edit goes into the table's stored text as 0005 and 0006 did, and is checked below.

PRAGMA writable_schema = ON;

UPDATE sqlite_schema SET sql = replace(sql,
    'CONSTRAINT "prompt is required for this kind (diffusion, shorten, video-diffusion, remix, edit, upload-paint, retexture)"
        CHECK (prompt IS NOT NULL OR instr('',diffusion,shorten,video-diffusion,remix,edit,upload-paint,retexture,'', '','' || kind || '','') = 0),',
    'CONSTRAINT "prompt is required for this kind (diffusion, shorten, remix, edit, upload-paint, retexture, and video-diffusion unless it animates an earlier image job: parent_id and params.imageNo)"
        CHECK (prompt IS NOT NULL OR instr('',diffusion,shorten,video-diffusion,remix,edit,upload-paint,retexture,'', '','' || kind || '','') = 0
               OR (kind = ''video-diffusion'' AND (parent_id IS NOT NULL OR json_type(params, ''$.jobId'') IS NOT NULL))),')
WHERE type = 'table' AND name = 'jobs';

-- The edit must have matched (a file changed by hand would otherwise be left as it was).
CREATE TEMP TABLE migration_0007_guard (edited INTEGER CHECK (edited = 1));
INSERT INTO migration_0007_guard
SELECT instr(sql, 'video-diffusion unless it animates an earlier image job') > 0
FROM sqlite_schema WHERE type = 'table' AND name = 'jobs';
DROP TABLE migration_0007_guard;

-- Makes every connection read the edited schema again.
PRAGMA schema_version = 7007;
PRAGMA writable_schema = OFF;

INSERT INTO schema_migrations (version, name) VALUES (7, '0007_video_from_an_image');
