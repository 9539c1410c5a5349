-- iClients (OAuth client id + sealed secret), connections, and the flows that
-- use connections (the flows API comes later; the table lets deletes refuse).
-- created_at is kept at millisecond precision so a JavaScript Date round-trips
-- exactly through the keyset paging cursor (created_at, id).
CREATE TABLE iclients (
  id text PRIMARY KEY,
  account_id text NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  name text NOT NULL,
  application text NOT NULL,
  client_id text NOT NULL,
  client_secret_sealed text NOT NULL,
  redirect_uris jsonb,
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  CONSTRAINT iclients_account_name UNIQUE (account_id, name)
);
CREATE INDEX iclients_page ON iclients (account_id, created_at, id);

CREATE TABLE connections (
  id text PRIMARY KEY,
  account_id text NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  name text NOT NULL,
  application text NOT NULL,
  scopes jsonb NOT NULL,
  iclient_id text REFERENCES iclients(id) ON DELETE RESTRICT,
  borrow_from text REFERENCES connections(id) ON DELETE RESTRICT,
  concurrency_level integer NOT NULL DEFAULT 5 CHECK (concurrency_level BETWEEN 1 AND 25),
  status text NOT NULL DEFAULT 'unauthorized' CHECK (status IN ('unauthorized', 'online', 'offline')),
  offline_reason jsonb,
  email text,
  granted_scopes jsonb,
  missing_scopes jsonb,
  authorized_at timestamptz,
  tokens_sealed text,
  token_client_id text,
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  CONSTRAINT connections_account_name UNIQUE (account_id, name),
  CONSTRAINT connections_no_self_borrow CHECK (borrow_from IS NULL OR borrow_from <> id)
);
CREATE INDEX connections_page ON connections (account_id, created_at, id);
CREATE INDEX connections_iclient ON connections (iclient_id);
CREATE INDEX connections_borrow_from ON connections (borrow_from);

CREATE TABLE flows (
  id text PRIMARY KEY,
  account_id text NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  name text NOT NULL,
  definition jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())
);
CREATE INDEX flows_account ON flows (account_id, created_at, id);

CREATE TABLE flow_connections (
  flow_id text NOT NULL REFERENCES flows(id) ON DELETE CASCADE,
  connection_id text NOT NULL REFERENCES connections(id) ON DELETE RESTRICT,
  PRIMARY KEY (flow_id, connection_id)
);
CREATE INDEX flow_connections_connection ON flow_connections (connection_id);
