/**
 * OAuth `state` values: random, single-use, expiring, bound to an account and
 * a connection. Stored hashed; the PKCE verifier stored sealed.
 */
import { randomBytes } from "node:crypto";
import type { Db } from "../../core/store/db.ts";
import { hashToken, type SecretBox } from "../../core/secrets.ts";

export const DEFAULT_STATE_TTL_MS = 10 * 60 * 1000;

export interface AuthorizationAttempt {
  accountId: string;
  connectionId: string;
  clientId: string;
  scopes: string[];
  codeVerifier: string;
}

export type ConsumeResult =
  | { ok: true; attempt: AuthorizationAttempt }
  | { ok: false; reason: "unknown_state" | "state_used" | "state_expired" };

export class StateStore {
  constructor(
    private readonly db: Db,
    private readonly secrets: SecretBox,
    private readonly ttlMs = DEFAULT_STATE_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new state for this attempt; returns it with its expiry. */
  async issue(attempt: AuthorizationAttempt): Promise<{ state: string; expiresAt: Date }> {
    const state = randomBytes(32).toString("base64url");
    const expiresAt = new Date(this.now() + this.ttlMs);
    await this.db.query(
      `INSERT INTO oauth_states (state_hash, account_id, connection_id, client_id, scopes, code_verifier_sealed, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [hashToken(state), attempt.accountId, attempt.connectionId, attempt.clientId, JSON.stringify(attempt.scopes), this.secrets.seal(attempt.codeVerifier), expiresAt],
    );
    // Expired attempts are of no use to anyone: sweep them as we go.
    await this.db.query("DELETE FROM oauth_states WHERE expires_at < $1", [new Date(this.now() - this.ttlMs)]);
    return { state, expiresAt };
  }

  /** Mark the state used (atomically, so a replay loses) and return its attempt. */
  async consume(state: string): Promise<ConsumeResult> {
    const hash = hashToken(state);
    const rows = await this.db.query(
      `UPDATE oauth_states SET used_at = $2 WHERE state_hash = $1 AND used_at IS NULL
       RETURNING account_id, connection_id, client_id, scopes, code_verifier_sealed, expires_at`,
      [hash, new Date(this.now())],
    );
    const row = rows[0];
    if (!row) {
      const seen = await this.db.query("SELECT 1 FROM oauth_states WHERE state_hash = $1", [hash]);
      return { ok: false, reason: seen.length ? "state_used" : "unknown_state" };
    }
    if (new Date(row.expires_at).getTime() <= this.now()) return { ok: false, reason: "state_expired" };
    return {
      ok: true,
      attempt: {
        accountId: row.account_id,
        connectionId: row.connection_id,
        clientId: row.client_id,
        scopes: typeof row.scopes === "string" ? JSON.parse(row.scopes) : row.scopes,
        codeVerifier: this.secrets.open(row.code_verifier_sealed),
      },
    };
  }
}
