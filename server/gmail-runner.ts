/**
 * The one choke point of every Gmail API request made for a connection:
 * status and scope checks first (no call to Google when they fail), then a
 * slot of the connection's pool, a valid access token, the call, and Google's
 * answers mapped (401 → one refresh and retry, rate limit → pool pause and
 * retry, `invalid_grant` → offline).
 */
import type { gmail_v1 } from "@googleapis/gmail";
import type { FastifyBaseLogger } from "fastify";
import { gmailCallOptions, gmailClient, type GmailCallOptions } from "../connector/gmail-client.ts";
import { assertScopeFor, type GmailMethod } from "../connector/gmail-methods.ts";
import { GoogleApiError, RateLimitedError, toConnectorError } from "../connector/errors.ts";
import type { GoogleEndpoints } from "../connector/endpoints.ts";
import { runInPool, type PoolGate } from "./pools/index.ts";
import type { ConnectionStore } from "./connections/connection-store.ts";
import type { TokenManager } from "./oauth/token-manager.ts";
import { ConnectionUnavailableError } from "./oauth/connection-errors.ts";

export interface GmailRunnerDeps {
  connections: ConnectionStore;
  tokens: TokenManager;
  gate: PoolGate;
  endpoints: GoogleEndpoints;
  log?: FastifyBaseLogger;
  /** Backoff when Google gives no Retry-After. @defaultValue runInPool's (1 s doubling to 64 s) */
  backoff?: { baseMs?: number; maxMs?: number };
}

export class GmailRunner {
  constructor(private readonly deps: GmailRunnerDeps) {}

  /** Run `call` for the connection, holding a slot of its pool. `call` must pass `options` to every Gmail call. */
  async run<T>(accountId: string, connectionId: string, method: GmailMethod, call: (gmail: gmail_v1.Gmail, options: GmailCallOptions) => Promise<T>): Promise<T> {
    const { connections, tokens, gate, endpoints } = this.deps;
    const connection = await connections.get(accountId, connectionId);
    if (connection.status !== "online") {
      throw new ConnectionUnavailableError(connection.status, connection.offlineReason);
    }
    assertScopeFor(method, connection.grantedScopes ?? []);
    const pool = await connections.resolvePool(accountId, connectionId);
    const options = gmailCallOptions(endpoints);
    let fresh = true;
    return runInPool(
      gate,
      // The first attempt uses the level just read; a retry re-reads it, so a change meanwhile applies.
      { id: pool.poolId, limit: async () => (fresh ? ((fresh = false), pool.limit) : (await connections.resolvePool(accountId, connectionId)).limit) },
      async () => {
        let t = await tokens.accessToken(accountId, connectionId);
        try {
          return await call(gmailClient(t.accessToken), options);
        } catch (err) {
          const mapped = toConnectorError(err);
          if (!(mapped instanceof GoogleApiError && mapped.status === 401)) throw mapped ?? err;
          // Google refused a token we thought valid (revoked access token, clock skew): refresh once.
          t = await tokens.accessToken(accountId, connectionId, t.accessToken);
          try {
            return await call(gmailClient(t.accessToken), options);
          } catch (again) {
            throw toConnectorError(again) ?? again;
          }
        }
      },
      {
        backoff: this.deps.backoff,
        classify: (err) => {
          if (!(err instanceof RateLimitedError)) return null;
          this.deps.log?.warn({ connectionId, poolId: pool.poolId, retryAfterMs: err.retryAfterMs }, "Google rate limit: pausing pool");
          return { retryAfterMs: err.retryAfterMs };
        },
      },
    );
  }
}
