/**
 * The token endpoint (`/token`: authorization_code with PKCE, refresh_token) and `/revoke`.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { GoogleError, oauthError } from "./errors.ts";
import { asForm, first, type FormValues } from "./form.ts";
import { idTokenFor, nonceOf } from "./id-tokens.ts";
import { newAccessToken, newRefreshToken } from "./ids.ts";
import { TESTING_REFRESH_TTL_SECONDS, type Client, type EmulatorState, type Grant } from "./state.ts";

const invalidGrant = (description: string) => oauthError(400, "invalid_grant", description);

/** 401 `invalid_client` with the challenge RFC 6749 §5.2 requires of a 401. */
function invalidClient(description: string): GoogleError {
  const { body } = oauthError(401, "invalid_client", description);
  return new GoogleError(401, body, { "www-authenticate": 'Basic realm="https://accounts.google.com/", charset="UTF-8"' });
}

/** Client authentication: `client_secret_post` or HTTP Basic, as Google accepts both. */
function authenticateClient(state: EmulatorState, request: FastifyRequest, form: FormValues): Client {
  let clientId = first(form.client_id);
  let secret = first(form.client_secret);
  const basic = /^Basic\s+(.+)$/i.exec(request.headers.authorization ?? "");
  if (basic) ({ clientId, secret } = basicCredentials(basic[1]));
  if (!clientId) throw oauthError(400, "invalid_request", "Could not determine client ID from request.");
  const client = state.clients.get(clientId);
  if (!client) throw invalidClient("The OAuth client was not found.");
  if (secret !== client.clientSecret) throw invalidClient("Unauthorized");
  return client;
}

/**
 * `Authorization: Basic` credentials: base64 of `id:secret`, each form-urlencoded (RFC 6749
 * §2.3.1). Anything undecodable is a client that cannot be authenticated.
 */
function basicCredentials(encoded: string): { clientId: string; secret: string } {
  const text = Buffer.from(encoded, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon < 0) throw invalidClient("Unauthorized");
  try {
    return { clientId: decodeURIComponent(text.slice(0, colon)), secret: decodeURIComponent(text.slice(colon + 1)) };
  } catch {
    throw invalidClient("Unauthorized");
  }
}

/** RFC 7636 §4.1: 43 to 128 unreserved characters. */
export const PKCE_VALUE = /^[A-Za-z0-9._~-]{43,128}$/;

function verifyPkce(challenge: string, method: string, verifier: string | undefined): void {
  if (!verifier) throw invalidGrant("Missing code verifier.");
  if (!PKCE_VALUE.test(verifier)) throw invalidGrant("Invalid code verifier.");
  const computed = method === "S256" ? createHash("sha256").update(verifier).digest("base64url") : verifier;
  const a = Buffer.from(computed);
  const b = Buffer.from(challenge);
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw invalidGrant("Invalid code verifier.");
}

function issueAccessToken(state: EmulatorState, grant: Grant, scopes: string[], code: string | undefined) {
  const token = newAccessToken();
  const ttl = state.settings.accessTokenTtlSeconds;
  state.accessTokens.set(token, {
    token,
    grantId: grant.id,
    code,
    clientId: grant.clientId,
    email: grant.email,
    scopes,
    expiresAt: state.now() + ttl * 1000,
  });
  return { access_token: token, expires_in: ttl };
}

function exchangeCode(state: EmulatorState, client: Client, form: FormValues): Record<string, unknown> {
  const codeValue = first(form.code);
  if (!codeValue) throw oauthError(400, "invalid_request", "Missing required parameter: code");
  const code = state.codes.get(codeValue);
  if (!code) throw invalidGrant(codeValue.startsWith("4/") ? "Bad Request" : "Malformed auth code.");
  if (code.used) {
    state.revokeCode(codeValue);
    throw invalidGrant("Code was already redeemed.");
  }
  if (code.clientId !== client.clientId || state.now() > code.expiresAt) throw invalidGrant("Bad Request");
  if (first(form.redirect_uri) !== code.redirectUri) throw oauthError(400, "redirect_uri_mismatch", "Bad Request");
  if (code.codeChallenge) verifyPkce(code.codeChallenge, code.codeChallengeMethod ?? "plain", first(form.code_verifier));
  code.used = true;
  const grant = state.liveGrant(code.grantId);
  if (!grant) throw invalidGrant("Token has been expired or revoked.");
  const body: Record<string, unknown> = { ...issueAccessToken(state, grant, code.scopes, codeValue) };
  if (code.issueRefreshToken) {
    const token = newRefreshToken();
    state.refreshTokens.set(token, {
      token,
      grantId: grant.id,
      code: codeValue,
      clientId: client.clientId,
      scopes: code.scopes,
      expiresAt: client.testing ? state.now() + TESTING_REFRESH_TTL_SECONDS * 1000 : undefined,
    });
    grant.refreshIssued = true;
    body.refresh_token = token;
    if (client.testing) body.refresh_token_expires_in = TESTING_REFRESH_TTL_SECONDS;
  }
  const idToken = idTokenFor(state, { clientId: client.clientId, email: grant.email, scopes: code.scopes, accessToken: String(body.access_token), nonce: nonceOf(code) });
  return { ...body, scope: code.scopes.join(" "), token_type: "Bearer", ...(idToken ? { id_token: idToken } : {}) };
}

function refresh(state: EmulatorState, client: Client, form: FormValues): Record<string, unknown> {
  const value = first(form.refresh_token);
  if (!value) throw oauthError(400, "invalid_request", "Missing required parameter: refresh_token");
  const token = state.refreshTokens.get(value);
  const grant = token && state.liveGrant(token.grantId);
  if (token && grant) state.userStats(grant.email).refreshes += 1;
  if (token?.retired && grant) {
    // A rotated-out token came back: one of its holders is not the client. End the grant.
    state.revokeGrant(grant);
    throw invalidGrant("Token has been expired or revoked.");
  }
  if (!token || !grant || (token.expiresAt !== undefined && state.now() >= token.expiresAt)) {
    throw invalidGrant("Token has been expired or revoked.");
  }
  if (token.clientId !== client.clientId) throw oauthError(400, "unauthorized_client", "Unauthorized");
  const body: Record<string, unknown> = { ...issueAccessToken(state, grant, token.scopes, token.code) };
  if (state.settings.rotateRefreshTokens) {
    token.retired = true;
    const next = newRefreshToken();
    state.refreshTokens.set(next, { ...token, token: next, retired: false });
    body.refresh_token = next;
  }
  if (token.expiresAt !== undefined) body.refresh_token_expires_in = Math.max(0, Math.floor((token.expiresAt - state.now()) / 1000));
  // Google answers a refresh with a new ID token too (no nonce: there is no authorization request).
  const idToken = idTokenFor(state, { clientId: client.clientId, email: grant.email, scopes: token.scopes, accessToken: String(body.access_token) });
  return { ...body, scope: token.scopes.join(" "), token_type: "Bearer", ...(idToken ? { id_token: idToken } : {}) };
}

export function tokenRoutes(app: FastifyInstance, state: EmulatorState): void {
  app.post("/token", async (request, reply) => {
    const form = asForm(request.body);
    const grantType = first(form.grant_type);
    if (!grantType) throw oauthError(400, "invalid_request", "Missing required parameter: grant_type");
    if (grantType !== "authorization_code" && grantType !== "refresh_token") {
      throw oauthError(400, "unsupported_grant_type", `Invalid grant_type: ${grantType}`);
    }
    const client = authenticateClient(state, request, form);
    const body = grantType === "authorization_code" ? exchangeCode(state, client, form) : refresh(state, client, form);
    return reply.header("cache-control", "no-cache, no-store, max-age=0, must-revalidate").header("pragma", "no-cache").send(body);
  });

  app.post("/revoke", async (request, reply) => {
    const value = first(asForm(request.body).token) ?? first((request.query as FormValues).token);
    if (!value) throw oauthError(400, "invalid_request", "Missing required parameter: token");
    // A refresh token rotated out is no longer valid: revoking it is revoking an unknown token
    // (RFC 7009 §2.2), and the grant lives on with its successor. A client that revokes a token it
    // has since replaced leaves the grant alive, as it would at any rotating server.
    const refreshToken = state.refreshTokens.get(value);
    const grantId = state.accessTokens.get(value)?.grantId ?? (refreshToken?.retired ? undefined : refreshToken?.grantId);
    const grant = grantId === undefined ? undefined : state.liveGrant(grantId);
    if (!grant) throw oauthError(400, "invalid_token", "Token expired or revoked");
    // Revoking either token revokes the whole grant, as Google does.
    state.revokeGrant(grant);
    return reply.send({});
  });

  app.get("/revoke", async () => {
    throw new GoogleError(404, "Not Found");
  });
}
