-- Where a run is (issue 11): saved after each page a backup or restore finished, so a run taken
-- over after a crash resumes from its last page: the Gmail listing's next page token, or the
-- archive source's next byte; the archive destination's size and message count; the progress.
ALTER TABLE flow_runs ADD COLUMN position jsonb;
