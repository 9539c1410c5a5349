-- A revocation Google did not confirm (RFC 7009): the connection's local tokens are gone, but the
-- refresh token is kept sealed until a retried revocation succeeds, and the failure is recorded.
ALTER TABLE connections ADD COLUMN revocation jsonb;
ALTER TABLE connections ADD COLUMN revoke_token_sealed text;
