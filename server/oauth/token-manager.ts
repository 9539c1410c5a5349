/**
 * Valid access tokens for connections. A token is refreshed shortly before it
 * expires, one refresh at a time per connection: concurrent callers in this
 * process share one promise; across processes a short lock is taken and the
 * stored token re-read, so a refresh another process just made is reused.
 */
import { TokenRevokedError } from "../../connector/errors.ts";
import type { GoogleOAuth, TokenSet } from "../../connector/oauth.ts";
import type { RefreshLock } from "./refresh-lock.ts";
import type { TokenStore } from "./token-store.ts";
import { ConnectionUnavailableError } from "./connection-errors.ts";
import { MAX_TOKEN_CACHE_MS } from "./token-store.ts";

/** Refresh when the access token has less than this left. */
export const DEFAULT_REFRESH_MARGIN_MS = 60_000;

export interface TokenManagerDeps {
  tokens: TokenStore;
  lock: RefreshLock;
  /** The OAuth client of the connection's iClient. */
  oauthFor(accountId: string, connectionId: string): Promise<GoogleOAuth>;
  now?: () => number;
  refreshMarginMs?: number;
}

export class TokenManager {
  private readonly inflight = new Map<string, Promise<TokenSet>>();
  private readonly now: () => number;
  private readonly margin: number;

  constructor(private readonly deps: TokenManagerDeps) {
    this.now = deps.now ?? Date.now;
    this.margin = deps.refreshMarginMs ?? DEFAULT_REFRESH_MARGIN_MS;
  }

  /**
   * A usable token set. With `rejected`, the caller's access token was refused
   * by Google (401), so a refresh is made unless someone already replaced it.
   */
  async accessToken(accountId: string, connectionId: string, rejected?: string): Promise<TokenSet> {
    // A read of the last moment will do here; a refresh (below) reads afresh under the lock.
    const current = await this.usable(connectionId, MAX_TOKEN_CACHE_MS);
    if (!this.needsRefresh(current, rejected)) return current;
    let pending = this.inflight.get(connectionId);
    if (!pending) {
      pending = this.refresh(accountId, connectionId, rejected).finally(() => this.inflight.delete(connectionId));
      this.inflight.set(connectionId, pending);
    }
    return pending;
  }

  private needsRefresh(t: TokenSet, rejected?: string): boolean {
    return t.accessToken === rejected || t.expiryDate - this.now() < this.margin;
  }

  private async usable(connectionId: string, maxAgeMs = 0): Promise<TokenSet> {
    let stored = await this.deps.tokens.read(connectionId, { maxAgeMs });
    // A remembered read that finds no usable token is checked afresh (authorized again meanwhile elsewhere).
    if (maxAgeMs > 0 && (!stored || stored.status !== "online" || !stored.tokens)) stored = await this.deps.tokens.read(connectionId);
    if (!stored || stored.status !== "online" || !stored.tokens) {
      throw new ConnectionUnavailableError(stored?.status === "offline" ? "offline" : "unauthorized", stored?.offlineReason ?? null);
    }
    return stored.tokens;
  }

  private refresh(accountId: string, connectionId: string, rejected?: string): Promise<TokenSet> {
    return this.deps.lock.withLock(connectionId, async () => {
      // Another process may have refreshed while we waited for the lock.
      const current = await this.usable(connectionId);
      if (!this.needsRefresh(current, rejected)) return current;
      const oauth = await this.deps.oauthFor(accountId, connectionId);
      try {
        const next = await oauth.refresh(current);
        await this.deps.tokens.saveRefreshed(connectionId, current.refreshToken, next);
        return next;
      } catch (err) {
        if (err instanceof TokenRevokedError) {
          const reason = { code: "token_revoked", message: err.message, at: new Date(this.now()).toISOString() };
          await this.deps.tokens.takeOffline(connectionId, reason, current.refreshToken);
          throw new ConnectionUnavailableError("offline", reason);
        }
        throw err;
      }
    });
  }
}
