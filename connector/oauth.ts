/**
 * Google's server-side OAuth flow through google-auth-library, with every
 * endpoint configurable (real Google by default, the emulator in sandbox).
 */
import { createPublicKey, type JsonWebKey } from "node:crypto";
import { OAuth2Client, type Credentials } from "google-auth-library";
import type { GoogleEndpoints } from "./endpoints.ts";
import { ConnectorError, OAuthExchangeError, TokenRevokedError, toConnectorError } from "./errors.ts";

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
  /**
   * The `iss` an ID token must carry.
   * @defaultValue Google's two forms, `https://accounts.google.com` and `accounts.google.com`
   */
  issuers?: readonly string[];
  /**
   * The issuer's signing keys as a JWKS.
   * @defaultValue `https://www.googleapis.com/oauth2/v3/certs`
   */
  certsUrl?: string;
}

/** Sign-in scopes asked beside the connection's: the token response then carries an ID token with the address. */
export const SIGN_IN_SCOPES: readonly string[] = ["openid", "email"];

/** The ID token is not one we can trust: bad signature, issuer, audience or expiry, or no verified address. */
export class IdTokenError extends ConnectorError {
  readonly code = "id_token_invalid";
  constructor(message: string) {
    super(message);
    this.name = "IdTokenError";
  }
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
      scope: [...new Set([...scopes, ...SIGN_IN_SCOPES])],
      state,
      code_challenge: codeChallenge,
      code_challenge_method: "S256" as any,
    });
  }

  /**
   * Exchange the code; a response without a refresh token is an error (we need offline access).
   * A response without `scope` granted `requestedScopes` (RFC 6749 §5.1).
   */
  async exchangeCode(code: string, codeVerifier: string, requestedScopes: readonly string[]): Promise<{ tokens: TokenSet; idToken?: string }> {
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
    return { tokens: toTokenSet(tokens, requestedScopes), idToken: tokens.id_token ?? undefined };
  }

  /**
   * The account's address: from the ID token when the token response carried one (verified by
   * google-auth-library against the keys at `certsUrl`: signature, `iss`, `aud`, `exp`), else from
   * the userinfo endpoint.
   */
  async accountEmail(exchange: { tokens: TokenSet; idToken?: string }): Promise<string> {
    if (!exchange.idToken) return this.userEmail(exchange.tokens.accessToken);
    const certs = await signingCerts(this.client, this.opts.certsUrl ?? DEFAULT_CERTS_URL, exchange.idToken);
    let payload: { email?: string; email_verified?: boolean | string } | undefined;
    try {
      const ticket = await this.client.verifySignedJwtWithCertsAsync(
        exchange.idToken,
        certs,
        this.opts.client.clientId,
        [...(this.opts.issuers ?? DEFAULT_ISSUERS)],
      );
      payload = ticket.getPayload();
    } catch (err) {
      // The library's messages quote the whole token: name the check only.
      throw new IdTokenError(`The ID token did not verify (${idTokenProblem(err)}). The connection was not changed.`);
    }
    if (!payload?.email) throw new IdTokenError("The ID token carries no email address: was the email scope granted?");
    if (payload.email_verified === false || payload.email_verified === "false") {
      throw new IdTokenError("The Google account's address is not verified.");
    }
    return payload.email;
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
   * A fresh access token for `current.refreshToken`. `invalid_grant` becomes
   * {@link TokenRevokedError}. A rotated refresh token in the answer replaces the old one (RFC 6749
   * §6); an answer without `scope` keeps the scopes of the grant.
   */
  async refresh(current: TokenSet): Promise<TokenSet> {
    const client = newClient(this.opts);
    client.setCredentials({ refresh_token: current.refreshToken });
    let answer: Credentials | undefined;
    // google-auth-library 10.x emits the token endpoint's answer, then writes the old refresh
    // token back over a rotated one in that same object: copy it at the event.
    client.on("tokens", (t) => {
      answer = { ...t };
    });
    try {
      await client.getAccessToken();
    } catch (err) {
      const mapped = toConnectorError(err);
      if (mapped instanceof TokenRevokedError) throw mapped;
      throw mapped ?? err;
    }
    if (!answer?.access_token) throw new OAuthExchangeError("code_exchange_failed", "Google's refresh answer carried no access token.");
    return {
      accessToken: answer.access_token,
      refreshToken: answer.refresh_token || current.refreshToken,
      expiryDate: answer.expiry_date ?? Date.now() + DEFAULT_EXPIRES_IN_MS,
      grantedScopes: parseScope(answer.scope) ?? current.grantedScopes,
    };
  }

  /**
   * Revoke a token (RFC 7009): a `POST` with the token in the form body, never in the URL where
   * access logs keep it, and the client authenticated the way the token endpoint is
   * (`client_secret_post`). Revoking a refresh token takes the whole grant with it at Google.
   * `400 invalid_token` means the token is already gone; any other answer throws
   * {@link RevocationFailedError}: the grant may still be alive.
   */
  async revoke(token: string): Promise<"revoked" | "already_invalid"> {
    const form = new URLSearchParams({ token, client_id: this.opts.client.clientId, client_secret: this.opts.client.clientSecret });
    try {
      await this.client.transporter.request({
        url: this.opts.endpoints.revokeUrl,
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        data: form.toString(),
        responseType: "text",
        // Deauthorize holds the connection's refresh lock while this runs: bound it well inside the lock's life.
        timeout: REVOKE_TIMEOUT_MS,
      });
      return "revoked";
    } catch (err) {
      const res = (err as { response?: { status?: number; data?: unknown } }).response;
      const body = parseJson(res?.data);
      if (res?.status === 400 && body?.error === "invalid_token") return "already_invalid";
      throw new RevocationFailedError(res?.status, body);
    }
  }
}

/** How long a revocation may take before it counts as not confirmed. */
export const REVOKE_TIMEOUT_MS = 10_000;
const DEFAULT_ISSUERS = ["https://accounts.google.com", "accounts.google.com"];
const DEFAULT_CERTS_URL = "https://www.googleapis.com/oauth2/v3/certs";
/** How long fetched signing keys are used before they are fetched again (a new `kid` refetches at once). */
const CERTS_TTL_MS = 5 * 60_000;
const certsCache = new Map<string, { certs: Record<string, string>; fetchedAt: number }>();

/**
 * The issuer's keys by `kid` as PEM (what google-auth-library's verifier takes), from the JWKS at
 * `url`; cached, and fetched again when the token names a key the cache does not hold.
 */
async function signingCerts(client: OAuth2Client, url: string, idToken: string): Promise<Record<string, string>> {
  let kid: string | undefined;
  try {
    kid = JSON.parse(Buffer.from(idToken.split(".")[0] ?? "", "base64url").toString("utf8")).kid;
  } catch {
    throw new IdTokenError("The ID token is not a JWT.");
  }
  const cached = certsCache.get(url);
  if (cached && Date.now() - cached.fetchedAt < CERTS_TTL_MS && kid && cached.certs[kid]) return cached.certs;
  let keys: Array<JsonWebKey & { kid?: string; use?: string }>;
  try {
    // A JWKS is often served as application/jwk-set+json, which is JSON all the same.
    const res = await client.transporter.request<unknown>({ url, retry: true, responseType: "text" });
    const jwks = parseJson(res.data);
    keys = Array.isArray(jwks?.keys) ? (jwks.keys as typeof keys) : [];
  } catch {
    throw new IdTokenError("The issuer's signing keys could not be fetched (GOOGLE_CERTS_URL).");
  }
  const certs: Record<string, string> = {};
  for (const jwk of keys) {
    if (!jwk.kid || (jwk.use && jwk.use !== "sig")) continue;
    try {
      certs[jwk.kid] = createPublicKey({ key: jwk, format: "jwk" }).export({ type: "spki", format: "pem" }).toString();
    } catch {
      // A key type this verifier cannot use; the others still count.
    }
  }
  certsCache.set(url, { certs, fetchedAt: Date.now() });
  return certs;
}

/** Which check an ID token failed, without the token the library's message quotes. */
function idTokenProblem(err: unknown): string {
  const m = err instanceof Error ? err.message : "";
  if (/^No pem found/.test(m)) return "unknown signing key";
  if (/signature/i.test(m)) return "bad signature";
  if (/audience/i.test(m)) return "wrong audience";
  if (/issuer/i.test(m)) return "wrong issuer";
  if (/too early|too late|expir|Expiration/i.test(m)) return "expired or not yet valid";
  return "malformed";
}

/** Default access-token lifetime when the token response has no `expires_in` (Google's is 3599 s). */
export const DEFAULT_EXPIRES_IN_MS = 3_599_000;

/**
 * The revocation endpoint did not confirm: the grant may still be alive. The message names the
 * answer (status, OAuth error code, its description) and never the token or the client secret.
 */
export class RevocationFailedError extends ConnectorError {
  readonly code = "revocation_failed";
  constructor(readonly status: number | undefined, body?: { error?: unknown; error_description?: unknown }) {
    const error = typeof body?.error === "string" ? body.error.slice(0, 100) : undefined;
    const description = typeof body?.error_description === "string" ? body.error_description.slice(0, 200) : undefined;
    super(
      status === undefined
        ? "Google's revocation endpoint could not be reached; the grant may still be alive."
        : `Google's revocation endpoint answered ${status}${error ? ` ${error}` : ""}${description ? ` (${description})` : ""}; the grant may still be alive.`,
    );
    this.name = "RevocationFailedError";
  }
}

function parseJson(data: unknown): Record<string, unknown> | undefined {
  if (data && typeof data === "object") return data as Record<string, unknown>;
  if (typeof data !== "string") return undefined;
  try {
    const v = JSON.parse(data);
    return v && typeof v === "object" ? v : undefined;
  } catch {
    return undefined;
  }
}

/** A token response's `scope` as a list; undefined when absent (RFC 6749 §5.1: "as requested"). */
function parseScope(scope: string | null | undefined): string[] | undefined {
  if (typeof scope !== "string") return undefined;
  return scope.split(" ").filter(Boolean);
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

function toTokenSet(t: Credentials, requestedScopes: readonly string[]): TokenSet {
  return {
    accessToken: t.access_token!,
    refreshToken: t.refresh_token!,
    expiryDate: t.expiry_date ?? Date.now() + DEFAULT_EXPIRES_IN_MS,
    grantedScopes: parseScope(t.scope) ?? [...requestedScopes],
  };
}
