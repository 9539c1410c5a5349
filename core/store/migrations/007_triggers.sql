-- Triggers (issue 15): what started each run, and per flow its trigger, whether it
-- is enabled, and the state that makes each tick fire once: the last fired tick, the
-- next one, the poller's history cursor and the one follow-up run a trigger that
-- fired during a run folds into.
ALTER TABLE flow_runs ADD COLUMN trigger text NOT NULL DEFAULT 'manual' CHECK (trigger IN ('manual', 'schedule', 'push', 'poll'));

CREATE TABLE flow_triggers (
  flow_id text PRIMARY KEY REFERENCES flows(id) ON DELETE CASCADE,
  account_id text NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  trigger jsonb NOT NULL DEFAULT '{"type": "manual"}'::jsonb,
  enabled boolean NOT NULL DEFAULT true,
  -- The last tick fired (schedule) or poll made (gmail); the timer's anchor.
  last_tick_at timestamptz,
  next_run_at timestamptz,
  -- Gmail: the historyId the poller has looked up to (the flow's checkpoint moves only with runs).
  poll_history_id text,
  last_notification_at timestamptz,
  -- Gmail backfill: the first run also exports mail received after this.
  backfill_after timestamptz,
  -- A trigger fired while a run was queued or running: one follow-up run, started when that run ends.
  pending_trigger text CHECK (pending_trigger IN ('schedule', 'push', 'poll')),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX flow_triggers_pending ON flow_triggers (flow_id) WHERE pending_trigger IS NOT NULL;
CREATE INDEX flow_triggers_timed ON flow_triggers (next_run_at) WHERE enabled;
