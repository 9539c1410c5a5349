/**
 * A connection's OAuth state in the `connections` table: sealed tokens, the
 * account address, granted scopes and the status they imply.
 */
import type { Db } from "../../core/store/db.ts";
import type { SecretBox } from "../../core/secrets.ts";
import type { TokenSet } from "../../connector/oauth.ts";
import type { OfflineReason } from "../../core/offline-reason.ts";
import type { ConnectionStatus } from "../connections/connection.ts";
import type { Revocation } from "../connections/revocation.ts";
import { RecentReads } from "../../core/recent-reads.ts";

export interface StoredTokens {
  status: ConnectionStatus;
  offlineReason: OfflineReason | null;
  tokens?: TokenSet;
  /** The client id the tokens were issued to. */
  clientId: string | null;
}

export interface Authorization {
  tokens: TokenSet;
  email: string;
  grantedScopes: string[];
  missingScopes: string[];
  clientId: string;
}

/**
 * A refresh token whose revocation Google did not confirm, kept sealed until a retry succeeds,
 * with who it was issued to: a new authorization of the same account and client is the same grant
 * at Google, and revoking the old token would take the new one with it.
 */
export interface PendingRevocation {
  refreshToken: string;
  clientId: string | null;
  email: string | null;
}

/**
 * How long `read(id, { maxAgeMs })` may answer from what this process read before. The store's own
 * writes drop it at once; a change by another process shows within this time (a token revoked
 * there costs at most one 401 from Google, whose refresh reads afresh).
 */
export const MAX_TOKEN_CACHE_MS = 2_000;

const touch = "updated_at = date_trunc('milliseconds', now())";

export class TokenStore {
  /** Called after a connection's status was set here (triggers stop or start its mailbox's watch at once). */
  onStatusChange?: (connectionId: string) => void;

  constructor(
    private readonly db: Db,
    private readonly secrets: SecretBox,
    /** Shared with the other stores that write `connections` (app.ts), so their writes drop these reads too. */
    private readonly recent = new RecentReads(MAX_TOKEN_CACHE_MS),
  ) {}

  /**
   * The connection's OAuth state. With `maxAgeMs` (at most {@link MAX_TOKEN_CACHE_MS}), a read this
   * process made that long ago may answer; without it the database is read.
   */
  read(connectionId: string, opts: { maxAgeMs?: number } = {}): Promise<StoredTokens | undefined> {
    return this.recent.read(`tokens:${connectionId}`, opts.maxAgeMs ?? 0, () => this.readNow(connectionId));
  }

  /** Run a write with the remembered reads dropped before it and once it is done. */
  #writing<T>(fn: () => Promise<T>): Promise<T> {
    return this.recent.writing(fn);
  }

  private async readNow(connectionId: string): Promise<StoredTokens | undefined> {
    const rows = await this.db.query(
      "SELECT status, offline_reason, tokens_sealed, token_client_id FROM connections WHERE id = $1",
      [connectionId],
    );
    const row = rows[0];
    if (!row) return undefined;
    return {
      status: row.status,
      offlineReason: row.offline_reason ?? null,
      tokens: row.tokens_sealed ? this.open(row.tokens_sealed) : undefined,
      clientId: row.token_client_id ?? null,
    };
  }

  /** The callback succeeded: keep the tokens and set the connection online. */
  async authorize(connectionId: string, a: Authorization): Promise<void> {
    await this.#writing(() => this.db.tx(async (q) => {
      const rows = await q.query("SELECT revoke_token_sealed FROM connections WHERE id = $1 FOR UPDATE", [connectionId]);
      const pending = rows[0]?.revoke_token_sealed ? this.openPending(rows[0].revoke_token_sealed) : undefined;
      // The same account and client authorized again: Google's grant is the one the user just approved.
      const sameGrant = pending && pending.clientId === a.clientId && pending.email?.toLowerCase() === a.email.toLowerCase();
      await q.query(
        `UPDATE connections SET status = 'online', offline_reason = NULL, email = $2, granted_scopes = $3::jsonb,
           missing_scopes = $4::jsonb, authorized_at = date_trunc('milliseconds', now()), tokens_sealed = $5,
           token_client_id = $6, ${sameGrant ? "revocation = NULL, revoke_token_sealed = NULL, " : ""}${touch}
         WHERE id = $1`,
        [connectionId, a.email, JSON.stringify(a.grantedScopes), JSON.stringify(a.missingScopes), this.seal(a.tokens), a.clientId],
      );
    }));
    this.onStatusChange?.(connectionId);
  }

  /** Persist a refreshed token set, unless the connection was reauthorized or taken offline meanwhile. */
  async saveRefreshed(connectionId: string, previousRefreshToken: string, tokens: TokenSet): Promise<boolean> {
    return this.#writing(() => this.db.tx(async (q) => {
      const rows = await q.query("SELECT tokens_sealed FROM connections WHERE id = $1 AND status = 'online' FOR UPDATE", [connectionId]);
      const sealed = rows[0]?.tokens_sealed;
      if (!sealed || this.open(sealed).refreshToken !== previousRefreshToken) return false;
      await q.query(`UPDATE connections SET tokens_sealed = $2, ${touch} WHERE id = $1`, [connectionId, this.seal(tokens)]);
      return true;
    }));
  }

  /** Google refused the refresh token: offline with the reason; tokens are dropped. */
  async takeOffline(connectionId: string, reason: OfflineReason, refreshToken?: string): Promise<void> {
    await this.#writing(() => this.db.tx(async (q) => {
      const rows = await q.query("SELECT tokens_sealed FROM connections WHERE id = $1 FOR UPDATE", [connectionId]);
      const sealed = rows[0]?.tokens_sealed;
      // Reauthorized meanwhile with new tokens: leave it be.
      if (refreshToken && sealed && this.open(sealed).refreshToken !== refreshToken) return;
      await q.query(
        `UPDATE connections SET status = 'offline', offline_reason = $2::jsonb, tokens_sealed = NULL, ${touch} WHERE id = $1`,
        [connectionId, JSON.stringify(reason)],
      );
    }));
    this.onStatusChange?.(connectionId);
  }

  /**
   * Deauthorized: back to `unauthorized`, tokens and address gone. With `failed`, Google did not
   * confirm the revocation: the record says so and the refresh token stays sealed for a retry.
   */
  async clear(connectionId: string, failed?: { pending: PendingRevocation; revocation: Revocation }): Promise<void> {
    const keep = failed ? ", revocation = $2::jsonb, revoke_token_sealed = $3" : "";
    await this.#writing(() => this.db.query(
      `UPDATE connections SET status = 'unauthorized', offline_reason = NULL, tokens_sealed = NULL, token_client_id = NULL,
         email = NULL, granted_scopes = NULL, missing_scopes = NULL, authorized_at = NULL${keep}, ${touch}
       WHERE id = $1`,
      failed ? [connectionId, JSON.stringify(failed.revocation), this.secrets.seal(JSON.stringify(failed.pending))] : [connectionId],
    ));
    this.onStatusChange?.(connectionId);
  }

  /** The refresh token of a revocation Google has not confirmed yet, if any. */
  async pendingRevocation(connectionId: string): Promise<PendingRevocation | undefined> {
    const rows = await this.db.query("SELECT revoke_token_sealed FROM connections WHERE id = $1", [connectionId]);
    const sealed = rows[0]?.revoke_token_sealed;
    return sealed ? this.openPending(sealed) : undefined;
  }

  /**
   * A retried revocation ended: `revocation` null when Google confirmed it (the sealed token is
   * dropped), else the new failure. Nothing changes when the pending token is no longer `refreshToken`.
   */
  async settleRevocation(connectionId: string, refreshToken: string, revocation: Revocation | null): Promise<void> {
    await this.db.tx(async (q) => {
      const rows = await q.query("SELECT revoke_token_sealed FROM connections WHERE id = $1 FOR UPDATE", [connectionId]);
      const sealed = rows[0]?.revoke_token_sealed;
      if (!sealed || this.openPending(sealed).refreshToken !== refreshToken) return;
      await q.query(
        `UPDATE connections SET revocation = $2::jsonb${revocation ? "" : ", revoke_token_sealed = NULL"}, ${touch} WHERE id = $1`,
        [connectionId, revocation ? JSON.stringify(revocation) : null],
      );
    });
  }

  private openPending(sealed: string): PendingRevocation {
    return JSON.parse(this.secrets.open(sealed)) as PendingRevocation;
  }

  private open(sealed: string): TokenSet {
    return JSON.parse(this.secrets.open(sealed)) as TokenSet;
  }

  private seal(tokens: TokenSet): string {
    return this.secrets.seal(JSON.stringify(tokens));
  }
}
