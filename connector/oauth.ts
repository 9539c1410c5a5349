/**
 * Google's server-side OAuth flow through google-auth-library, with every
 * endpoint configurable (real Google by default, the emulator in sandbox).
 */
import { OAuth2Client, type Credentials } from "google-auth-library";
import type { GoogleEndpoints } from "./endpoints.ts";
import { OAuthExchangeError, TokenRevokedError, toConnectorError } from "./errors.ts";

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
}

/** What we keep (sealed) for a connection. */
export interface TokenSet {
  accessToken: string;
  refreshToken: string;
  /** Epoch ms when the access token expires. */
  expiryDate: number;
  /** Scopes Google granted, from the token response's `scope`. */
  grantedScopes: string[];
}

export interface OAuthOptions {
  endpoints: GoogleEndpoints;
  client: ClientCredentials;
  redirectUri: string;
}

export class GoogleOAuth {
  private readonly client: OAuth2Client;

  constructor(private readonly opts: OAuthOptions) {
    this.client = newClient(opts);
  }

  /** A PKCE pair (S256): keep the verifier with the state, send the challenge. */
  async pkce(): Promise<{ codeVerifier: string; codeChallenge: string }> {
    const { codeVerifier, codeChallenge } = await this.client.generateCodeVerifierAsync();
    return { codeVerifier, codeChallenge: codeChallenge! };
  }

  /** The consent URL of SPEC §2 step 2. */
  authorizationUrl(scopes: readonly string[], state: string, codeChallenge: string): string {
    return this.client.generateAuthUrl({
      access_type: "offline",
      prompt: "consent",
      include_granted_scopes: true,
      response_type: "code",
      scope: [...scopes],
      state,
      code_challenge: codeChallenge,
      code_challenge_method: "S256" as any,
    });
  }

  /** Exchange the code; a response without a refresh token is an error (we need offline access). */
  async exchangeCode(code: string, codeVerifier: string): Promise<TokenSet> {
    let tokens: Credentials;
    try {
      ({ tokens } = await this.client.getToken({ code, codeVerifier, redirect_uri: this.opts.redirectUri }));
    } catch (err) {
      const mapped = toConnectorError(err);
      throw new OAuthExchangeError("code_exchange_failed", `Google refused the authorization code: ${mapped?.message ?? "no answer"}`, { cause: err });
    }
    if (!tokens.refresh_token) {
      throw new OAuthExchangeError("no_refresh_token", "Google did not return a refresh token, so the connection could not work offline.");
    }
    return toTokenSet(tokens);
  }

  /** The account's address, from the userinfo endpoint. */
  async userEmail(accessToken: string): Promise<string> {
    const client = newClient(this.opts);
    // No expiry given: without a refresh token the library must not try to refresh.
    client.setCredentials({ access_token: accessToken });
    try {
      const res = await client.request<{ email?: string }>({ url: this.opts.endpoints.userinfoUrl });
      if (!res.data.email) throw new Error("no email in userinfo");
      return res.data.email;
    } catch (err) {
      throw new OAuthExchangeError("userinfo_failed", "Could not read the Google account's address.", { cause: err });
    }
  }

  /**
   * A fresh access token for `refreshToken`. `invalid_grant` becomes
   * {@link TokenRevokedError}. The refresh token Google returns, if any, replaces the old one.
   */
  async refresh(current: TokenSet): Promise<TokenSet> {
    const client = newClient(this.opts);
    client.setCredentials({ refresh_token: current.refreshToken });
    let refreshed: Credentials | undefined;
    client.on("tokens", (t) => {
      refreshed = t;
    });
    try {
      await client.getAccessToken();
    } catch (err) {
      const mapped = toConnectorError(err);
      if (mapped instanceof TokenRevokedError) throw mapped;
      throw mapped ?? err;
    }
    const t = refreshed ?? client.credentials;
    return {
      accessToken: t.access_token!,
      refreshToken: t.refresh_token ?? current.refreshToken,
      expiryDate: t.expiry_date ?? Date.now() + 3_599_000,
      grantedScopes: t.scope ? t.scope.split(" ") : current.grantedScopes,
    };
  }

  /** Revoke a token at Google (it takes the whole grant with it). */
  async revoke(token: string): Promise<void> {
    try {
      await this.client.revokeToken(token);
    } catch (err) {
      const mapped = toConnectorError(err);
      // An already invalid token is as good as revoked.
      if (mapped && "status" in mapped && (mapped as { status: number }).status === 400) return;
      throw mapped ?? err;
    }
  }
}

function newClient(opts: OAuthOptions): OAuth2Client {
  return new OAuth2Client({
    clientId: opts.client.clientId,
    clientSecret: opts.client.clientSecret,
    redirectUri: opts.redirectUri,
    endpoints: {
      oauth2AuthBaseUrl: opts.endpoints.authUrl,
      oauth2TokenUrl: opts.endpoints.tokenUrl,
      oauth2RevokeUrl: opts.endpoints.revokeUrl,
    },
  });
}

function toTokenSet(t: Credentials): TokenSet {
  return {
    accessToken: t.access_token!,
    refreshToken: t.refresh_token!,
    expiryDate: t.expiry_date ?? Date.now() + 3_599_000,
    grantedScopes: t.scope ? t.scope.split(" ").filter(Boolean) : [],
  };
}
