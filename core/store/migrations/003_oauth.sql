-- Save & authorize attempts: one row per state, single use, bound to account and connection.
-- The PKCE verifier is sealed like every other secret.
CREATE TABLE oauth_states (
  state_hash text PRIMARY KEY,
  account_id text NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  connection_id text NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  client_id text NOT NULL,
  scopes jsonb NOT NULL,
  code_verifier_sealed text NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);
