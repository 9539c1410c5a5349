-- Gmail push (issue 15): one users.watch per Gmail mailbox, shared by every flow on it
-- (the connection it was made through, its expiry and when it was last renewed), and the
-- hints push notifications bring, persisted before the push is acknowledged: one row per
-- mailbox, the latest historyId, and a sequence number so a hint that came while the last
-- one was handled is not cleared with it.
CREATE TABLE gmail_watches (
  email text PRIMARY KEY,
  account_id text NOT NULL,
  connection_id text NOT NULL,
  topic text NOT NULL,
  history_id text,
  expires_at timestamptz NOT NULL,
  renewed_at timestamptz NOT NULL
);

CREATE TABLE gmail_push_hints (
  email text PRIMARY KEY,
  history_id text NOT NULL,
  seq bigint NOT NULL DEFAULT 1,
  received_at timestamptz NOT NULL DEFAULT now()
);
