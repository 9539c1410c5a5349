import { createHash, createPublicKey } from "node:crypto";
import { CodeChallengeMethod, OAuth2Client } from "google-auth-library";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authErrorBody, authorize, consent, failure, gmailFor, harness, REDIRECT, SCOPES, type Harness } from "./helpers.ts";

let h: Harness;
beforeAll(async () => {
  h = await harness();
});
afterAll(() => h.close());

describe("authorization endpoint and consent page", () => {
  it("shows an Email field, one checked box per scope, Allow and Deny, posting to auth/decision", async () => {
    const client = await h.client();
    const url = h.oauth(client).generateAuthUrl({ scope: [SCOPES.email, SCOPES.readonly], state: "abc" });
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toMatch(/<label for="email">Email<\/label>/);
    expect(html).toMatch(/<input type="email" id="email" name="email"/);
    for (const scope of [SCOPES.email, SCOPES.readonly]) {
      expect(html).toContain(`name="granted_scope" value="${scope}" checked> ${scope}</label>`);
    }
    expect(html).toMatch(/<button type="submit" name="decision" value="allow">Allow<\/button>/);
    expect(html).toMatch(/<button type="submit" name="decision" value="deny">Deny<\/button>/);
    expect(html).toContain('action="auth/decision"');
    expect(html).toContain('<input type="hidden" name="state" value="abc">');
  });

  it("answers an error page, never a redirect, for an unknown client or a redirect_uri mismatch", async () => {
    const client = await h.client();
    const mismatch = h.oauth(client).generateAuthUrl({ scope: [SCOPES.email], redirect_uri: "http://evil.example/cb" });
    let res = await fetch(mismatch, { redirect: "manual" });
    expect(res.status).toBe(400);
    expect(res.headers.get("location")).toBeNull();
    expect(await res.text()).toContain("redirect_uri_mismatch");
    const unknown = h.oauth({ clientId: "nope", clientSecret: "x" }).generateAuthUrl({ scope: [SCOPES.email] });
    res = await fetch(unknown, { redirect: "manual" });
    expect(res.status).toBe(400);
    expect(res.headers.get("location")).toBeNull();
    expect(await res.text()).toContain("invalid_client");
    // The decision endpoint checks the same way.
    const form = new URLSearchParams({ client_id: client.clientId, redirect_uri: "http://evil.example/cb", response_type: "code", scope: SCOPES.email, email: "a@x.test", decision: "allow" });
    res = await fetch(`${h.base}/o/oauth2/v2/auth/decision`, { method: "POST", body: form, redirect: "manual" });
    expect(res.status).toBe(400);
    expect(res.headers.get("location")).toBeNull();
  });

  it("redirects with error=access_denied and the state on Deny", async () => {
    const client = await h.client();
    const url = h.oauth(client).generateAuthUrl({ scope: [SCOPES.email], state: "st-1" });
    const result = await consent(url, { email: "deny@x.test", decision: "deny" });
    expect(result.status).toBe(302);
    expect(result.location?.origin + result.location!.pathname).toBe(REDIRECT);
    expect(Object.fromEntries(result.location!.searchParams)).toEqual({ error: "access_denied", state: "st-1" });
  });

  it("redirects with code, state, granted scope, authuser=0 and prompt=consent on Allow", async () => {
    const client = await h.client();
    const url = h.oauth(client).generateAuthUrl({ scope: [SCOPES.email, SCOPES.readonly, SCOPES.send], state: "st-2" });
    const result = await consent(url, { email: "allow@x.test", grant: (s) => s !== SCOPES.send });
    const q = result.location!.searchParams;
    expect(q.get("state")).toBe("st-2");
    expect(q.get("code")).toMatch(/^4\/0A/);
    expect(q.get("scope")!.split(" ").sort()).toEqual([SCOPES.email, SCOPES.readonly].sort());
    expect(q.get("authuser")).toBe("0");
    expect(q.get("prompt")).toBe("consent");
  });
});

describe("token endpoint", () => {
  it("exchanges a code with PKCE S256 and grants only the ticked scopes", async () => {
    const client = await h.client();
    const auth = h.oauth(client);
    const { codeVerifier, codeChallenge } = await auth.generateCodeVerifierAsync();
    const url = auth.generateAuthUrl({
      access_type: "offline",
      scope: [SCOPES.email, SCOPES.readonly, SCOPES.send],
      code_challenge: codeChallenge,
      code_challenge_method: CodeChallengeMethod.S256,
    });
    const code = (await consent(url, { email: "pkce@x.test", grant: (s) => s !== SCOPES.send })).location!.searchParams.get("code")!;
    // Wrong verifier first: refused, and the code stays usable.
    const bad = await failure(auth.getToken({ code, codeVerifier: "x".repeat(50) }));
    expect(bad).toEqual({ status: 400, data: { error: "invalid_grant", error_description: "Invalid code verifier." } });
    const { tokens } = await auth.getToken({ code, codeVerifier });
    expect(tokens.access_token).toMatch(/^ya29\./);
    expect(tokens.refresh_token).toMatch(/^1\/\//);
    expect(tokens.token_type).toBe("Bearer");
    expect(tokens.scope!.split(" ").sort()).toEqual([SCOPES.email, SCOPES.readonly].sort());
    expect(tokens.expiry_date).toBeGreaterThan(Date.now());
    // Codes are single use.
    const reused = await failure(auth.getToken({ code, codeVerifier }));
    expect(reused.status).toBe(400);
    expect(reused.data.error).toBe("invalid_grant");
  });

  it("verifies PKCE plain and refuses a missing verifier", async () => {
    const client = await h.client();
    const auth = h.oauth(client);
    const verifier = "plain-verifier-".padEnd(50, "z");
    const url = auth.generateAuthUrl({ scope: [SCOPES.email], code_challenge: verifier, code_challenge_method: CodeChallengeMethod.Plain });
    const code = (await consent(url, { email: "plain@x.test" })).location!.searchParams.get("code")!;
    expect((await failure(auth.getToken({ code }))).data).toEqual({ error: "invalid_grant", error_description: "Missing code verifier." });
    const { tokens } = await auth.getToken({ code, codeVerifier: verifier });
    expect(tokens.access_token).toBeTruthy();
    // access_type was not offline: no refresh token.
    expect(tokens.refresh_token).toBeUndefined();
  });

  it("lets codes expire after ten minutes", async () => {
    const client = await h.client();
    const auth = h.oauth(client);
    const code = (await consent(auth.generateAuthUrl({ scope: [SCOPES.email] }), { email: "late@x.test" })).location!.searchParams.get("code")!;
    h.clock.advance(10 * 60 * 1000 + 1);
    const res = await failure(auth.getToken(code));
    expect(res).toEqual({ status: 400, data: { error: "invalid_grant", error_description: "Bad Request" } });
  });

  it("issues a new refresh token on re-consent only with prompt=consent", async () => {
    const client = await h.client();
    const auth = h.oauth(client);
    const codeFor = async (prompt?: string) =>
      (await consent(auth.generateAuthUrl({ access_type: "offline", scope: [SCOPES.email], prompt }), { email: "again@x.test" })).location!.searchParams.get("code")!;
    expect((await auth.getToken(await codeFor())).tokens.refresh_token).toBeTruthy();
    expect((await auth.getToken(await codeFor())).tokens.refresh_token).toBeUndefined();
    expect((await auth.getToken(await codeFor("consent"))).tokens.refresh_token).toBeTruthy();
  });

  it("refuses an unknown client (401 invalid_client), a wrong secret and an unknown grant type", async () => {
    const client = await h.client();
    const unknown = h.oauth({ clientId: "missing.apps.googleusercontent.com", clientSecret: "s" });
    expect(await failure(unknown.getToken("4/0Aabc"))).toEqual({
      status: 401,
      data: { error: "invalid_client", error_description: "The OAuth client was not found." },
    });
    const wrong = h.oauth({ clientId: client.clientId, clientSecret: "wrong" });
    expect(await failure(wrong.getToken("4/0Aabc"))).toEqual({ status: 401, data: { error: "invalid_client", error_description: "Unauthorized" } });
    const res = await fetch(`${h.base}/token`, { method: "POST", body: new URLSearchParams({ grant_type: "password", client_id: client.clientId }) });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: "unsupported_grant_type", error_description: "Invalid grant_type: password" });
  });

  it("refreshes an expired access token and counts refreshes", async () => {
    const { auth, tokens } = await authorize(h, { email: "refresh@x.test", scopes: [SCOPES.email, SCOPES.readonly] });
    const api = gmailFor(h, auth);
    expect((await api.users.getProfile({ userId: "me" })).data.emailAddress).toBe("refresh@x.test");
    h.clock.advance(3600 * 1000);
    // The old token is dead at the emulator; the client notices only through 401 or its own expiry.
    const dead = await fetch(`${h.base}/gmail/v1/users/me/profile`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(dead.status).toBe(401);
    expect(await dead.json()).toEqual(authErrorBody);
    const refreshed = await auth.refreshAccessToken();
    expect(refreshed.credentials.access_token).not.toBe(tokens.access_token);
    auth.setCredentials({ ...refreshed.credentials, refresh_token: tokens.refresh_token });
    expect((await api.users.getProfile({ userId: "me" })).status).toBe(200);
    const stats = (await h.admin("GET", "/_admin/stats")).body;
    expect(stats.users["refresh@x.test"].refreshes).toBe(1);
  });

  it("gives Testing clients 7-day refresh tokens", async () => {
    const client = await h.client({ testing: true });
    const { auth, tokens } = await authorize(h, { email: "testing@x.test", scopes: [SCOPES.email], client });
    expect(tokens.refresh_token_expires_in).toBe(604799);
    h.clock.advance(7 * 24 * 3600 * 1000);
    expect(await failure(auth.refreshAccessToken())).toEqual({
      status: 400,
      data: { error: "invalid_grant", error_description: "Token has been expired or revoked." },
    });
  });
});

describe("revoke and userinfo", () => {
  it("revokes through /revoke: the access token answers 401 and the refresh token invalid_grant", async () => {
    const { auth, tokens } = await authorize(h, { email: "revoke@x.test", scopes: [SCOPES.email, SCOPES.readonly] });
    await auth.revokeToken(tokens.refresh_token!);
    expect(await failure(gmailFor(h, auth).users.getProfile({ userId: "me" }))).toEqual({ status: 401, data: authErrorBody });
    expect((await failure(auth.refreshAccessToken())).data).toEqual({ error: "invalid_grant", error_description: "Token has been expired or revoked." });
    expect((await failure(auth.revokeToken(tokens.refresh_token!))).status).toBe(400);
    expect((await fetch(`${h.base}/revoke?token=x`)).status).toBe(404);
  });

  it("revokes through the admin route, per client or all", async () => {
    const a = await authorize(h, { email: "admin-revoke@x.test", scopes: [SCOPES.readonly] });
    const b = await authorize(h, { email: "admin-revoke@x.test", scopes: [SCOPES.readonly] });
    expect((await h.admin("POST", "/_admin/users/admin-revoke@x.test/revoke", { clientId: a.client.clientId })).status).toBe(200);
    expect((await failure(gmailFor(h, a.auth).users.getProfile({ userId: "me" }))).status).toBe(401);
    expect((await gmailFor(h, b.auth).users.getProfile({ userId: "me" })).status).toBe(200);
    await h.admin("POST", "/_admin/users/admin-revoke@x.test/revoke", {});
    expect((await failure(gmailFor(h, b.auth).users.getProfile({ userId: "me" }))).status).toBe(401);
  });

  it("answers userinfo in the v2 and the OIDC shapes", async () => {
    await h.admin("POST", "/_admin/users", { email: "info@x.test", name: "Ada Lovelace" });
    const { auth } = await authorize(h, { email: "info@x.test", scopes: [SCOPES.email, SCOPES.profile] });
    const v2 = await auth.request<Record<string, unknown>>({ url: `${h.base}/oauth2/v2/userinfo` });
    expect(v2.data).toMatchObject({ email: "info@x.test", verified_email: true, name: "Ada Lovelace", given_name: "Ada", family_name: "Lovelace" });
    expect(v2.data.id).toMatch(/^\d+$/);
    const oidc = await auth.request<Record<string, unknown>>({ url: `${h.base}/v1/userinfo` });
    expect(oidc.data).toMatchObject({ sub: v2.data.id, email: "info@x.test", email_verified: true, name: "Ada Lovelace" });
    const anon = await fetch(`${h.base}/oauth2/v2/userinfo`, { headers: { authorization: "Bearer nope" } });
    expect(anon.status).toBe(401);
    expect(await anon.json()).toEqual(authErrorBody);
  });
});

describe("ID tokens (openid) and the certs endpoints", () => {
  /** Consent with PKCE and a nonce, then the raw token response (what any OpenID client reads). */
  async function signIn(email: string, scopes: string[], nonce?: string) {
    const client = await h.client();
    const auth = h.oauth(client);
    const { codeVerifier, codeChallenge } = await auth.generateCodeVerifierAsync();
    const url = new URL(auth.generateAuthUrl({ access_type: "offline", scope: scopes, code_challenge: codeChallenge, code_challenge_method: CodeChallengeMethod.S256 }));
    if (nonce) url.searchParams.set("nonce", nonce);
    const result = await consent(url.toString(), { email });
    const code = result.location?.searchParams.get("code");
    if (!code) throw new Error(`no code: ${result.status}`);
    const res = await fetch(`${h.base}/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "authorization_code", code, code_verifier: codeVerifier, redirect_uri: REDIRECT, client_id: client.clientId, client_secret: client.clientSecret }),
    });
    expect(res.status).toBe(200);
    return { client, body: (await res.json()) as Record<string, any> };
  }

  /** google-auth-library's verifier, fetching the emulator's keys where Google's would be. */
  function verifier(client: { clientId: string; clientSecret: string }) {
    return new OAuth2Client({
      clientId: client.clientId,
      endpoints: { oauth2FederatedSignonPemCertsUrl: `${h.base}/oauth2/v1/certs`, oauth2FederatedSignonJwkCertsUrl: `${h.base}/oauth2/v3/certs` },
    });
  }

  it("signs an ID token that google-auth-library's verifyIdToken accepts, with Google's claims and the nonce", async () => {
    const { client, body } = await signIn("Id.Token@x.test", ["openid", "email", SCOPES.readonly], "n-0S6_WzA2Mj");
    expect(typeof body.id_token).toBe("string");
    const ticket = await verifier(client).verifyIdToken({ idToken: body.id_token, audience: client.clientId });
    const claims = ticket.getPayload()!;
    expect(claims).toMatchObject({ iss: "https://accounts.google.com", aud: client.clientId, azp: client.clientId, email: "id.token@x.test", email_verified: true, nonce: "n-0S6_WzA2Mj" });
    expect(claims.sub).toMatch(/^\d+$/);
    expect(claims.exp - claims.iat).toBe(3600);
    // at_hash binds the ID token to the access token beside it (OpenID Connect Core §3.1.3.6).
    expect(claims.at_hash).toBe(createHash("sha256").update(body.access_token).digest().subarray(0, 16).toString("base64url"));
    // The same sub as userinfo's.
    const info = await fetch(`${h.base}/v1/userinfo`, { headers: { authorization: `Bearer ${body.access_token}` } });
    expect((await info.json()).sub).toBe(claims.sub);
  });

  it("publishes the same key as a JWKS at /oauth2/v3/certs; a token for another client or altered does not verify", async () => {
    const { client, body } = await signIn("jwks@x.test", ["openid", "email"]);
    const jwks = await (await fetch(`${h.base}/oauth2/v3/certs`)).json();
    const kid = JSON.parse(Buffer.from(body.id_token.split(".")[0], "base64url").toString()).kid;
    const jwk = jwks.keys.find((k: { kid: string }) => k.kid === kid);
    expect(jwk).toMatchObject({ kty: "RSA", alg: "RS256", use: "sig" });
    const pem = createPublicKey({ key: jwk, format: "jwk" }).export({ type: "spki", format: "pem" }).toString();
    const ticket = await verifier(client).verifySignedJwtWithCertsAsync(body.id_token, { [kid]: pem }, client.clientId, ["https://accounts.google.com"]);
    expect(ticket.getPayload()!.email).toBe("jwks@x.test");
    expect(ticket.getPayload()!.nonce).toBeUndefined();

    const other = await h.client();
    await expect(verifier(other).verifyIdToken({ idToken: body.id_token, audience: other.clientId })).rejects.toThrow(/audience/i);
    const [head, payload, sig] = body.id_token.split(".");
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, "base64url").toString()), email: "ceo@x.test" })).toString("base64url");
    await expect(verifier(client).verifyIdToken({ idToken: `${head}.${forged}.${sig}`, audience: client.clientId })).rejects.toThrow(/signature/i);
  });

  it("issues no ID token without openid, and a fresh one (no nonce) on refresh", async () => {
    const plain = await signIn("no-openid@x.test", [SCOPES.email, SCOPES.readonly]);
    expect(plain.body.id_token).toBeUndefined();
    const { client, body } = await signIn("refresh-id@x.test", ["openid", "email", SCOPES.readonly], "nonce-1");
    const res = await fetch(`${h.base}/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: body.refresh_token, client_id: client.clientId, client_secret: client.clientSecret }),
    });
    const refreshed = await res.json();
    const claims = (await verifier(client).verifyIdToken({ idToken: refreshed.id_token, audience: client.clientId })).getPayload()!;
    expect(claims).toMatchObject({ email: "refresh-id@x.test", aud: client.clientId });
    expect(claims.nonce).toBeUndefined();
  });
});

describe("revoking a rotated-out refresh token", () => {
  it("answers invalid_token and leaves the grant alive with its successor, as a rotating server does", async () => {
    await h.admin("PUT", "/_admin/settings", { rotateRefreshTokens: true });
    try {
      const { client, tokens } = await authorize(h, { email: "rotated-revoke@x.test", scopes: [SCOPES.readonly] });
      const form = (extra: Record<string, string>) => new URLSearchParams({ client_id: client.clientId, client_secret: client.clientSecret, ...extra });
      const rotated = await (await fetch(`${h.base}/token`, { method: "POST", body: form({ grant_type: "refresh_token", refresh_token: tokens.refresh_token! }) })).json();
      expect(rotated.refresh_token).not.toBe(tokens.refresh_token);
      const revoke = await fetch(`${h.base}/revoke`, { method: "POST", body: form({ token: tokens.refresh_token! }) });
      expect(revoke.status).toBe(400);
      expect((await revoke.json()).error).toBe("invalid_token");
      // The successor still works: revoking what one replaced ends nothing.
      const again = await fetch(`${h.base}/token`, { method: "POST", body: form({ grant_type: "refresh_token", refresh_token: rotated.refresh_token }) });
      expect(again.status).toBe(200);
    } finally {
      await h.admin("PUT", "/_admin/settings", { rotateRefreshTokens: false });
    }
  });
});
