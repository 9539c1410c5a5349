/**
 * A revocation the issuer did not confirm, as stored in `connections.revocation` and shown in the
 * API: the connection's local tokens are gone, but the grant may still be alive at Google until a
 * retried revocation (`POST /v1/connections/:id/revoke`) succeeds.
 */
export interface Revocation {
  status: "failed";
  /** ISO 8601 time of the last attempt. */
  at: string;
  /** What the revocation endpoint answered (never a token or a secret). */
  error: { code: string; message: string };
}

export function failedRevocation(code: string, message: string, at = new Date()): Revocation {
  return { status: "failed", at: at.toISOString(), error: { code, message } };
}
