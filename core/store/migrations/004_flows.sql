-- Flows (002 made the table), their runs, the record of each destination delivery
-- (so a send is never made twice, even when a run is retried after a crash), and
-- the historyId checkpoint of incremental exports.
ALTER TABLE flows ADD CONSTRAINT flows_account_name UNIQUE (account_id, name);

CREATE TABLE flow_runs (
  id text PRIMARY KEY,
  account_id text NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  flow_id text NOT NULL REFERENCES flows(id) ON DELETE CASCADE,
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
  progress jsonb NOT NULL DEFAULT '{"exported": 0, "imported": 0, "failed": 0}'::jsonb,
  errors jsonb NOT NULL DEFAULT '[]'::jsonb,
  attempts integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  started_at timestamptz,
  finished_at timestamptz
);
CREATE INDEX flow_runs_page ON flow_runs (flow_id, created_at, id);
-- At most one queued or running run per flow (a second run answers 409).
CREATE UNIQUE INDEX flow_runs_one_active ON flow_runs (flow_id) WHERE status IN ('queued', 'running');

CREATE TABLE flow_deliveries (
  flow_id text NOT NULL REFERENCES flows(id) ON DELETE CASCADE,
  destination_index integer NOT NULL,
  source_message_id text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'done')),
  rfc822_message_id text,
  destination_message_id text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (flow_id, destination_index, source_message_id)
);

CREATE TABLE flow_checkpoints (
  flow_id text PRIMARY KEY REFERENCES flows(id) ON DELETE CASCADE,
  history_id text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
