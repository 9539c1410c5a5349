/**
 * A connection's OAuth state in the `connections` table: sealed tokens, the
 * account address, granted scopes and the status they imply.
 */
import type { Db } from "../store/db.ts";
import type { SecretBox } from "../secrets.ts";
import type { TokenSet } from "../../connector/oauth.ts";
import type { OfflineReason } from "../connections/offline-reason.ts";
import type { ConnectionStatus } from "../connections/connection.ts";

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

const touch = "updated_at = date_trunc('milliseconds', now())";

export class TokenStore {
  constructor(
    private readonly db: Db,
    private readonly secrets: SecretBox,
  ) {}

  async read(connectionId: string): Promise<StoredTokens | undefined> {
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
    await this.db.query(
      `UPDATE connections SET status = 'online', offline_reason = NULL, email = $2, granted_scopes = $3::jsonb,
         missing_scopes = $4::jsonb, authorized_at = date_trunc('milliseconds', now()), tokens_sealed = $5,
         token_client_id = $6, ${touch}
       WHERE id = $1`,
      [connectionId, a.email, JSON.stringify(a.grantedScopes), JSON.stringify(a.missingScopes), this.seal(a.tokens), a.clientId],
    );
  }

  /** Persist a refreshed token set, unless the connection was reauthorized or taken offline meanwhile. */
  async saveRefreshed(connectionId: string, previousRefreshToken: string, tokens: TokenSet): Promise<boolean> {
    return this.db.tx(async (q) => {
      const rows = await q.query("SELECT tokens_sealed FROM connections WHERE id = $1 AND status = 'online' FOR UPDATE", [connectionId]);
      const sealed = rows[0]?.tokens_sealed;
      if (!sealed || this.open(sealed).refreshToken !== previousRefreshToken) return false;
      await q.query(`UPDATE connections SET tokens_sealed = $2, ${touch} WHERE id = $1`, [connectionId, this.seal(tokens)]);
      return true;
    });
  }

  /** Google refused the refresh token: offline with the reason; tokens are dropped. */
  async takeOffline(connectionId: string, reason: OfflineReason, refreshToken?: string): Promise<void> {
    await this.db.tx(async (q) => {
      const rows = await q.query("SELECT tokens_sealed FROM connections WHERE id = $1 FOR UPDATE", [connectionId]);
      const sealed = rows[0]?.tokens_sealed;
      // Reauthorized meanwhile with new tokens: leave it be.
      if (refreshToken && sealed && this.open(sealed).refreshToken !== refreshToken) return;
      await q.query(
        `UPDATE connections SET status = 'offline', offline_reason = $2::jsonb, tokens_sealed = NULL, ${touch} WHERE id = $1`,
        [connectionId, JSON.stringify(reason)],
      );
    });
  }

  /** Deauthorized: back to `unauthorized`, tokens and address gone. */
  async clear(connectionId: string): Promise<void> {
    await this.db.query(
      `UPDATE connections SET status = 'unauthorized', offline_reason = NULL, tokens_sealed = NULL, token_client_id = NULL,
         email = NULL, granted_scopes = NULL, missing_scopes = NULL, authorized_at = NULL, ${touch}
       WHERE id = $1`,
      [connectionId],
    );
  }

  private open(sealed: string): TokenSet {
    return JSON.parse(this.secrets.open(sealed)) as TokenSet;
  }

  private seal(tokens: TokenSet): string {
    return this.secrets.seal(JSON.stringify(tokens));
  }
}
