-- The messages an incremental run exports (issue 11): history.list's added ids are written here a
-- page at a time (deduplicated by the key, in history order by seq) instead of held in memory,
-- marked when a query matches them, and read back a page at a time; a run taken over after a
-- crash goes on from the seq its position saved. Removed when the run ends (or with it).
CREATE TABLE run_candidates (
  run_id text NOT NULL REFERENCES flow_runs(id) ON DELETE CASCADE,
  seq bigint NOT NULL,
  message_id text NOT NULL,
  matched boolean NOT NULL DEFAULT false,
  PRIMARY KEY (run_id, seq)
);
CREATE UNIQUE INDEX run_candidates_message ON run_candidates (run_id, message_id);
