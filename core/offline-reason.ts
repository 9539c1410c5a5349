/** Why a connection is offline, as stored in `connections.offline_reason` and shown in the API. */
export interface OfflineReason {
  code: "reauthorize_required" | "token_revoked" | (string & {});
  message: string;
  /** ISO 8601 time it went offline. */
  at: string;
}

export function reauthorizeRequired(message: string, at = new Date()): OfflineReason {
  return { code: "reauthorize_required", message, at: at.toISOString() };
}

/**
 * SQL that takes the online connections matched by `where` offline with
 * `reason` (parameter `$1`); the caller supplies the rest of the parameters.
 */
export function takeOfflineSql(where: string): string {
  return `UPDATE connections SET status = 'offline', offline_reason = $1::jsonb, updated_at = date_trunc('milliseconds', now())
           WHERE status = 'online' AND ${where}`;
}
