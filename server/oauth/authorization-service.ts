/**
 * Save & authorize (SPEC §2): start an attempt, complete it at the callback,
 * and undo it (deauthorize). Google calls go through the connector's
 * GoogleOAuth; this file holds the rules.
 */
import { GoogleOAuth, RevocationFailedError, type ClientCredentials } from "../../connector/oauth.ts";
import type { GoogleEndpoints } from "../../connector/endpoints.ts";
import { ConnectorError } from "../../connector/errors.ts";
import { ApiError } from "../../core/errors.ts";
import type { ConnectionStore } from "../connections/connection-store.ts";
import type { Connection } from "../connections/connection.ts";
import { failedRevocation, type Revocation } from "../connections/revocation.ts";
import { DEFAULT_GOOGLE_ISSUERS } from "../config.ts";
import type { IClientStore } from "../../iclients/iclient-store.ts";
import type { RefreshLock } from "./refresh-lock.ts";
import type { StateStore } from "./state-store.ts";
import type { PendingRevocation, TokenStore } from "./token-store.ts";
import type { CallbackResult } from "./callback-page.ts";

export interface AuthorizationDeps {
  connections: ConnectionStore;
  iclients: IClientStore;
  states: StateStore;
  tokens: TokenStore;
  endpoints: GoogleEndpoints;
  callbackUrl: string;
  platformClient?: ClientCredentials;
  /**
   * What the callback's `iss` parameter (RFC 9207) must equal when present.
   * @defaultValue {@link DEFAULT_GOOGLE_ISSUERS}
   */
  issuers?: readonly string[];
  /** The JWKS that verifies ID tokens (`GOOGLE_CERTS_URL`); Google's by default. */
  certsUrl?: string;
  /**
   * The token manager's refresh lock: deauthorize and delete hold it, so a refresh in flight (which
   * may rotate the refresh token) ends before the token to revoke is read.
   */
  lock: RefreshLock;
}

const STATE_ERRORS = {
  unknown_state: "This authorization link is not valid. Start again with Save & authorize.",
  state_used: "This authorization was already completed or abandoned. Start again with Save & authorize.",
  state_expired: "This authorization took longer than 10 minutes and expired. Start again with Save & authorize.",
} as const;

export class AuthorizationService {
  constructor(private readonly deps: AuthorizationDeps) {}

  /** The client credentials of a connection: its iClient's, or the platform iClient. */
  async credentials(accountId: string, connectionId: string, known?: Connection): Promise<ClientCredentials> {
    const connection = known ?? (await this.deps.connections.get(accountId, connectionId));
    if (connection.iClientId) return this.deps.iclients.credentials(accountId, connection.iClientId);
    if (this.deps.platformClient) return this.deps.platformClient;
    throw new ApiError("validation_failed", "The connection has no iClient and no platform iClient is configured.");
  }

  async oauthFor(accountId: string, connectionId: string): Promise<GoogleOAuth> {
    return this.oauth(await this.credentials(accountId, connectionId));
  }

  /** Step 2: a state bound to this account and connection, and the consent URL. */
  async start(accountId: string, connectionId: string): Promise<{ authorizeUrl: string; expiresAt: string }> {
    const connection = await this.deps.connections.get(accountId, connectionId);
    const creds = await this.credentials(accountId, connectionId, connection);
    const oauth = this.oauth(creds);
    const { codeVerifier, codeChallenge } = await oauth.pkce();
    const { state, expiresAt } = await this.deps.states.issue({
      accountId,
      connectionId,
      clientId: creds.clientId,
      scopes: connection.scopes,
      codeVerifier,
    });
    const authorizeUrl = oauth.authorizationUrl(connection.scopes, state, codeChallenge);
    return { authorizeUrl, expiresAt: expiresAt.toISOString() };
  }

  /** Step 3: every check of the callback. Never throws; the result says what happened. */
  async complete(query: Record<string, string | undefined>): Promise<CallbackResult> {
    if (!query.state) return fail(null, "unknown_state", STATE_ERRORS.unknown_state);
    const consumed = await this.deps.states.consume(query.state);
    if (!consumed.ok) return fail(null, consumed.reason, STATE_ERRORS[consumed.reason]);
    const { attempt } = consumed;
    const id = attempt.connectionId;
    // RFC 9207: a response that names another issuer came from a mix-up, whatever it carries.
    if (query.iss !== undefined && !(this.deps.issuers ?? DEFAULT_GOOGLE_ISSUERS).includes(query.iss)) {
      return fail(id, "issuer_mismatch", "The authorization response came from an unexpected issuer. The connection was not changed.");
    }
    if (query.error) {
      return query.error === "access_denied"
        ? fail(id, "access_denied", "Access was denied on Google's consent page. The connection was not changed.")
        : fail(id, "authorization_failed", `Google did not authorize the connection (${query.error}).`);
    }
    if (!query.code) return fail(id, "authorization_failed", "Google sent no authorization code.");
    try {
      const creds = await this.credentials(attempt.accountId, id);
      if (creds.clientId !== attempt.clientId) {
        return fail(id, "iclient_changed", "The connection's iClient changed during authorization. Start again.");
      }
      const oauth = this.oauth(creds);
      // The token response's `scope` is what was granted; without one, what was requested (RFC 6749 §5.1).
      const exchange = await oauth.exchangeCode(query.code, attempt.codeVerifier, attempt.scopes);
      const { tokens } = exchange;
      const email = await oauth.accountEmail(exchange);
      const granted = tokens.grantedScopes;
      const missingScopes = attempt.scopes.filter((s) => !granted.includes(s));
      await this.deps.tokens.authorize(id, { tokens, email, grantedScopes: granted, missingScopes, clientId: creds.clientId });
      return { ok: true, connectionId: id, email, missingScopes };
    } catch (err) {
      if (err instanceof ConnectorError) return fail(id, err.code, err.message);
      if (err instanceof ApiError) return fail(id, err.code, err.message);
      throw err;
    }
  }

  /**
   * Revoke the grant at Google and set the connection `unauthorized`. The local tokens are dropped
   * whatever Google answers (the user asked for it); when Google does not confirm, the connection's
   * `revocation` says the grant may still be alive and the refresh token stays sealed for
   * {@link retryRevoke}.
   */
  async deauthorize(accountId: string, connectionId: string): Promise<void> {
    const connection = await this.deps.connections.get(accountId, connectionId);
    await this.deps.lock.withLock(connectionId, async () => {
      const stored = await this.deps.tokens.read(connectionId);
      if (!stored?.tokens) {
        await this.deps.tokens.clear(connectionId);
        return;
      }
      const pending: PendingRevocation = { refreshToken: stored.tokens.refreshToken, clientId: stored.clientId, email: connection.email };
      const revocation = await this.revoke(accountId, connection, pending.refreshToken);
      await this.deps.tokens.clear(connectionId, revocation ? { pending, revocation } : undefined);
    });
  }

  /** Send a revocation Google did not confirm again; 409 when none is pending. */
  async retryRevoke(accountId: string, connectionId: string): Promise<void> {
    const connection = await this.deps.connections.get(accountId, connectionId);
    const pending = await this.deps.tokens.pendingRevocation(connectionId);
    if (!pending) throw new ApiError("conflict", "No revocation is pending for this connection.");
    const revocation = await this.revoke(accountId, connection, pending.refreshToken);
    await this.deps.tokens.settleRevocation(connectionId, pending.refreshToken, revocation);
  }

  /**
   * Delete the connection, then revoke its grant at Google. The delete comes first so a refused
   * delete (409) keeps a working grant. The tokens are gone from our store either way; the answer
   * is the revocation Google did not confirm (the grant may still be alive there), or null.
   */
  async deleteConnection(accountId: string, connectionId: string): Promise<Revocation | null> {
    const connection = await this.deps.connections.get(accountId, connectionId);
    return this.deps.lock.withLock(connectionId, async () => {
      const stored = await this.deps.tokens.read(connectionId);
      const pending = await this.deps.tokens.pendingRevocation(connectionId);
      const toRevoke = [stored?.tokens?.refreshToken, pending?.refreshToken].filter((t): t is string => !!t);
      await this.deps.connections.delete(accountId, connectionId);
      let failed: Revocation | null = null;
      for (const token of toRevoke) failed = (await this.revoke(accountId, connection, token)) ?? failed;
      return failed;
    });
  }

  /** Revoke `refreshToken` with the connection's client: null when done (or already gone), else the failure to record. */
  private async revoke(accountId: string, connection: Connection, refreshToken: string): Promise<Revocation | null> {
    try {
      const oauth = this.oauth(await this.credentials(accountId, connection.id, connection));
      await oauth.revoke(refreshToken);
      return null;
    } catch (err) {
      if (err instanceof RevocationFailedError || err instanceof ApiError) return failedRevocation("revocation_failed", err.message);
      return failedRevocation("revocation_failed", "The revocation could not be sent; the grant may still be alive.");
    }
  }

  private oauth(client: ClientCredentials): GoogleOAuth {
    return new GoogleOAuth({
      endpoints: this.deps.endpoints,
      client,
      redirectUri: this.deps.callbackUrl,
      issuers: this.deps.issuers,
      certsUrl: this.deps.certsUrl,
    });
  }
}

function fail(connectionId: string | null, code: string, message: string): CallbackResult {
  return { ok: false, connectionId, error: { code, message } };
}
