-- (010: 009 is the Gmail push migration.)
-- Archives (issue 11): mbox files under ARCHIVE_DIR, uploaded (origin 'upload') or written by a
-- flow run's archive destination (origin 'run'). An upload's row is inserted only once its file
-- is complete and renamed into place; a run's row may be 'writing' while the run appends to it.
CREATE TABLE archives (
  id text PRIMARY KEY,
  account_id text NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  name text NOT NULL,
  origin text NOT NULL CHECK (origin IN ('upload', 'run')),
  run_id text REFERENCES flow_runs(id) ON DELETE SET NULL,
  status text NOT NULL DEFAULT 'complete' CHECK (status IN ('writing', 'complete', 'failed')),
  file_name text NOT NULL UNIQUE,
  size_bytes bigint NOT NULL DEFAULT 0,
  message_count bigint NOT NULL DEFAULT 0,
  first_date timestamptz,
  last_date timestamptz,
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())
);
CREATE INDEX archives_page ON archives (account_id, created_at, id);
CREATE UNIQUE INDEX archives_one_per_run ON archives (run_id) WHERE run_id IS NOT NULL;

-- The token written into ARCHIVE_DIR by the first process of a cluster: every process started
-- later must find the same token there, or it does not share the directory (SPEC §2 "Archives").
CREATE TABLE archive_dir_token (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  token text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
