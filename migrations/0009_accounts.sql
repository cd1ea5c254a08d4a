-- legnext-queue schema, version 9: a pool of Legnext accounts.
-- By hand:  (echo 'BEGIN IMMEDIATE;'; cat migrations/0009_accounts.sql; echo 'COMMIT;') | sqlite3 -bail queue.db
--
-- Legnext's limits and credit are per account, and a Legnext job id belongs to the account that
-- made it: a follow-up (upscale, variation, video of an image …) must be sent with its parent's
-- key. `account` pins a job to one account (NULL: whichever can start it soonest);
-- `remote_account` is the account the daemon sent it with, recorded at the claim, before the
-- request leaves, so a crash can only leave a job whose account is known. Names only: keys stay
-- in files and credentials, never in this file.

ALTER TABLE jobs ADD COLUMN account TEXT;
ALTER TABLE jobs ADD COLUMN remote_account TEXT;

-- The accounts the daemon runs with, as its last start recorded them (`active` = 1; an account
-- left out of a later start keeps its row and its credits, with `active` = 0), and the live
-- figures its heartbeats and balance checks write. A daemon run with one key and no names has
-- one account, `default`.
CREATE TABLE accounts (
    name          TEXT PRIMARY KEY
        CONSTRAINT "an account name is 1-32 of a-z, 0-9, - and _, starting with a letter or digit"
        CHECK (typeof(name) = 'text' AND length(name) BETWEEN 1 AND 32 AND name NOT GLOB '*[^a-z0-9_-]*'
               AND substr(name, 1, 1) NOT IN ('-', '_')),
    position      INTEGER NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1,
    concurrency   INTEGER NOT NULL,
    plan          INTEGER,
    rate          REAL NOT NULL,
    priority      INTEGER NOT NULL DEFAULT 0,
    in_flight     INTEGER NOT NULL DEFAULT 0,
    current_rate  REAL,
    paused_reason TEXT,
    paused_since  TEXT,
    credits_used  INTEGER NOT NULL DEFAULT 0,
    balance_points INTEGER,
    balance_usd   REAL,
    balance_at    TEXT,
    updated_at    TEXT NOT NULL
) WITHOUT ROWID;

-- A pin to an account the daemon does not run would wait for ever: refused where it is written.
-- (A sub-program per inserted row, about 0.4 µs: the price of refusing it in the shell too.)
CREATE TRIGGER jobs_account_insert BEFORE INSERT ON jobs
WHEN NEW.account IS NOT NULL AND NOT EXISTS (SELECT 1 FROM accounts WHERE name = NEW.account AND active = 1)
BEGIN
    SELECT RAISE(ABORT, 'unknown account: a job can be pinned only to an account the daemon was last started with (`legnext-queue status` lists them; `run --account NAME` adds one), or left unpinned (account NULL)');
END;

CREATE TRIGGER jobs_account_update BEFORE UPDATE OF account ON jobs
WHEN NEW.account IS NOT NULL AND NEW.account IS NOT OLD.account
     AND NOT EXISTS (SELECT 1 FROM accounts WHERE name = NEW.account AND active = 1)
BEGIN
    SELECT RAISE(ABORT, 'unknown account: a job can be pinned only to an account the daemon was last started with (`legnext-queue status` lists them; `run --account NAME` adds one), or left unpinned (account NULL)');
END;

-- Claim order, apart for each account's pinned jobs: an account's claim walks the unpinned
-- queue and its own pins, never a backlog pinned to another (200,000 of those made each claim
-- of the others a 120 ms scan under the write lock). `status` counts the pins by the second.
DROP INDEX jobs_claim;
CREATE INDEX jobs_claim ON jobs (priority DESC, id) WHERE state = 'queued' AND account IS NULL;
CREATE INDEX jobs_pinned ON jobs (account, priority DESC, id) WHERE account IS NOT NULL AND state = 'queued';

-- Points spent per account, kept as the totals row keeps them for the queue. A job sent before
-- accounts existed (remote_account NULL) was sent with the one key of then, `default`'s.
CREATE TRIGGER jobs_account_credits AFTER UPDATE OF credits_used ON jobs
WHEN NEW.credits_used IS NOT OLD.credits_used
BEGIN
    UPDATE accounts SET credits_used = credits_used + coalesce(NEW.credits_used, 0) - coalesce(OLD.credits_used, 0)
    WHERE name = coalesce(NEW.remote_account, 'default');
END;

CREATE TRIGGER jobs_account_credits_delete AFTER DELETE ON jobs
WHEN OLD.credits_used IS NOT NULL
BEGIN
    UPDATE accounts SET credits_used = credits_used - OLD.credits_used WHERE name = coalesce(OLD.remote_account, 'default');
END;

INSERT INTO schema_migrations (version, name) VALUES (9, '0009_accounts');
