-- Triggers (issue 15): one poller per Gmail mailbox, shared by every enabled Gmail-triggered
-- flow reading it. Its interval is the smallest pollEvery among them; its last fired tick is
-- claimed in SQL so a tick delivered twice (or to two processes) polls once; its next tick is
-- what those flows show as nextRunAt.
CREATE TABLE gmail_pollers (
  email text PRIMARY KEY,
  every_ms bigint NOT NULL,
  last_tick_at timestamptz,
  next_run_at timestamptz
);

-- Why a watch was stopped while flows still read through its connection (the connection went
-- offline, was deauthorized or deleted), shown in those flows' watch state until it is watched again.
CREATE TABLE gmail_watch_stops (
  connection_id text PRIMARY KEY,
  email text NOT NULL,
  reason text NOT NULL CHECK (reason IN ('connection_offline', 'connection_deauthorized', 'connection_deleted')),
  stopped_at timestamptz NOT NULL DEFAULT now()
);

-- Each push looks up the flows reading its address (source connection by lower-cased address,
-- flow by source connection): indexed, not a scan of every connection and flow per push.
CREATE INDEX connections_lower_email ON connections (lower(email)) WHERE email IS NOT NULL;
CREATE INDEX flows_source_connection ON flows ((definition->'source'->>'connectionId'));
