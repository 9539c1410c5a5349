/**
 * Save & authorize and the life of a token (issue 5), over real HTTP against
 * the Google emulator through the real google-auth-library and Gmail clients.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { consent, startGoogle, type TestGoogle } from "../support/google.ts";

const PUBLIC_URL = "http://mailbridge.test";
const CALLBACK = `${PUBLIC_URL}/oauth2/callback`;
const READONLY = "https://www.googleapis.com/auth/gmail.readonly";
const LABELS = "https://www.googleapis.com/auth/gmail.labels";
const EMAIL = "https://www.googleapis.com/auth/userinfo.email";

describe("Save & authorize", () => {
  let google: TestGoogle;
  let t: TestApp;
  let client: { clientId: string; clientSecret: string };
  let user: string;
  const seen: string[] = [];
  /** Tokens of connections deleted along the way, checked for leaks at the end too. */
  const seenTokens: string[] = [];

  async function call(token: string, method: "get" | "post" | "patch" | "delete", url: string, body?: unknown) {
    const c = api(t.app, token) as any;
    const res = await (body === undefined ? c[method](url) : c[method](url, body));
    seen.push(res.body);
    return res;
  }

  /** The callback Google redirected to, delivered to our app. */
  async function deliver(redirect: URL) {
    expect(redirect.origin + redirect.pathname).toBe(CALLBACK);
    const res = await t.app.inject({ method: "GET", url: redirect.pathname + redirect.search });
    seen.push(res.body);
    return res;
  }

  async function newConnection(token = t.adminToken, scopes = [READONLY, LABELS], iClientId?: string) {
    const id = iClientId ?? (await call(token, "post", "/v1/iclients", { name: `ic-${Math.random()}`, application: "gmail", ...client })).json().id;
    const res = await call(token, "post", "/v1/connections", { name: `c-${Math.random()}`, application: "gmail", scopes, iClientId: id });
    expect(res.statusCode).toBe(201);
    return res.json();
  }

  async function authorize(connectionId: string, opts: Parameters<typeof consent>[1] = { email: user }, token = t.adminToken) {
    const start = await call(token, "post", `/v1/connections/${connectionId}/authorize`);
    expect(start.statusCode).toBe(200);
    const { authorizeUrl } = start.json();
    const { redirect } = await consent(authorizeUrl, opts);
    return { authorizeUrl, redirect, callback: await deliver(redirect) };
  }

  /** The refresh token we keep (sealed) for a connection; remembered for the leak check. */
  async function storedRefreshToken(connectionId: string): Promise<string> {
    const sealed = (await t.store.db.query("SELECT tokens_sealed FROM connections WHERE id = $1", [connectionId]))[0]!.tokens_sealed;
    const { refreshToken } = JSON.parse(t.secrets.open(sealed));
    seenTokens.push(refreshToken);
    return refreshToken;
  }

  /** What Google answers when the refresh token is used directly. */
  async function refreshAtGoogle(refreshToken: string): Promise<{ status: number; error?: string }> {
    const res = await fetch(google.env.GOOGLE_TOKEN_URL, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: client.clientId, client_secret: client.clientSecret }),
    });
    return { status: res.status, error: (await res.json()).error };
  }

  async function stats() {
    return (await google.admin("GET", "/stats")).users[user] ?? { requests: 0, refreshes: 0 };
  }

  beforeAll(async () => {
    google = await startGoogle();
    t = await startTestApp({ env: { PUBLIC_URL, ...google.env } });
    client = await google.newClient([CALLBACK]);
    user = await google.newUser();
  });
  afterAll(async () => {
    await t?.close();
    await google?.close();
  });

  it("builds the consent URL of SPEC step 2", async () => {
    const connection = await newConnection();
    const { authorizeUrl, expiresAt } = (await call(t.adminToken, "post", `/v1/connections/${connection.id}/authorize`)).json();
    const url = new URL(authorizeUrl);
    expect(url.origin + url.pathname).toBe(google.env.GOOGLE_AUTH_URL);
    const q = Object.fromEntries(url.searchParams);
    expect(q).toMatchObject({
      client_id: client.clientId,
      redirect_uri: CALLBACK,
      response_type: "code",
      access_type: "offline",
      prompt: "consent",
      include_granted_scopes: "true",
      code_challenge_method: "S256",
    });
    // The connection's scopes, and `openid email` so the address comes in a verified ID token.
    expect(q.scope!.split(" ").sort()).toEqual([READONLY, LABELS, EMAIL, "openid", "email"].sort());
    expect(q.state).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(q.code_challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Date(expiresAt).getTime() - Date.now()).toBeGreaterThan(9 * 60_000);
  });

  it("happy path: online with the address and granted scopes; Test connection calls Gmail", async () => {
    const connection = await newConnection();
    const { callback } = await authorize(connection.id);
    expect(callback.statusCode, callback.body).toBe(200);
    expect(callback.body).toContain("mailbridge:oauth");
    expect(callback.body).toContain(`"connectionId":"${connection.id}"`);
    const after = (await call(t.adminToken, "get", `/v1/connections/${connection.id}`)).json();
    expect(after).toMatchObject({ status: "online", email: user, missingScopes: [] });
    expect(after.grantedScopes).toEqual(expect.arrayContaining([READONLY, LABELS, EMAIL]));
    expect(after.authorizedAt).toBeTruthy();
    const before = await stats();
    const test = (await call(t.adminToken, "post", `/v1/connections/${connection.id}/test`)).json();
    expect(test).toEqual({ ok: true, email: user });
    expect((await stats()).requests).toBe(before.requests + 1);
  });

  it("Deny leaves the connection as it was and the page says so", async () => {
    const connection = await newConnection();
    const { callback } = await authorize(connection.id, { email: user, decision: "deny" });
    expect(callback.statusCode).toBe(400);
    expect(callback.body).toContain("access_denied");
    expect(callback.body).toMatch(/denied/i);
    expect((await call(t.adminToken, "get", `/v1/connections/${connection.id}`)).json().status).toBe("unauthorized");
  });

  it("a reused state is refused and changes nothing", async () => {
    const connection = await newConnection();
    const { redirect } = await authorize(connection.id);
    const before = (await call(t.adminToken, "get", `/v1/connections/${connection.id}`)).json();
    const again = await deliver(redirect);
    expect(again.statusCode).toBe(400);
    expect(again.body).toContain("state_used");
    expect((await call(t.adminToken, "get", `/v1/connections/${connection.id}`)).json()).toEqual(before);
  });

  it("an unknown or expired state is refused and changes nothing", async () => {
    const unknown = await t.app.inject({ url: "/oauth2/callback?state=nope&code=x" });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.body).toContain("unknown_state");
    const connection = await newConnection();
    const { authorizeUrl } = (await call(t.adminToken, "post", `/v1/connections/${connection.id}/authorize`)).json();
    // Ten minutes pass: the attempt's row is aged rather than the test sleeping.
    await t.store.db.query("UPDATE oauth_states SET expires_at = now() - interval '1 second' WHERE connection_id = $1", [connection.id]);
    const { redirect } = await consent(authorizeUrl, { email: user });
    const res = await deliver(redirect);
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain("state_expired");
    expect((await call(t.adminToken, "get", `/v1/connections/${connection.id}`)).json().status).toBe("unauthorized");
  });

  it("a state is bound to the account and connection it was issued for", async () => {
    const other = await t.newAccount();
    const mine = await newConnection();
    const theirs = await newConnection(other);
    // Another account cannot start an attempt on my connection.
    expect((await call(other, "post", `/v1/connections/${mine.id}/authorize`)).statusCode).toBe(404);
    // Their attempt completes their connection only, whoever delivers the callback.
    await authorize(theirs.id, { email: user }, other);
    expect((await call(other, "get", `/v1/connections/${theirs.id}`)).json().status).toBe("online");
    expect((await call(t.adminToken, "get", `/v1/connections/${mine.id}`)).json().status).toBe("unauthorized");
    expect((await call(t.adminToken, "get", `/v1/connections/${theirs.id}`)).statusCode).toBe(404);
  });

  it("a scope unticked on the consent page is listed in missingScopes, and operations needing it fail before Google", async () => {
    // A fresh Google user: with include_granted_scopes, an earlier grant of the same client would count.
    const newcomer = await google.newUser();
    const connection = await newConnection(t.adminToken, [READONLY, LABELS]);
    await authorize(connection.id, { email: newcomer, untick: [READONLY] });
    const after = (await call(t.adminToken, "get", `/v1/connections/${connection.id}`)).json();
    expect(after.status).toBe("online");
    expect(after.missingScopes).toEqual([READONLY]);
    const test = (await call(t.adminToken, "post", `/v1/connections/${connection.id}/test`)).json();
    expect(test.ok).toBe(false);
    expect(test.error.code).toBe("missing_scope");
    expect(test.error.message).toContain(READONLY);
    expect((await google.admin("GET", "/stats")).users[newcomer]?.requests ?? 0).toBe(0);
  });

  it("a redirect URI the client did not register never comes back to us", async () => {
    const stranger = await google.newClient(["https://elsewhere.example/cb"]);
    const ic = (await call(t.adminToken, "post", "/v1/iclients", { name: "unregistered", application: "gmail", ...stranger })).json();
    const connection = await newConnection(t.adminToken, [READONLY], ic.id);
    const { authorizeUrl } = (await call(t.adminToken, "post", `/v1/connections/${connection.id}/authorize`)).json();
    const res = await fetch(authorizeUrl, { redirect: "manual" });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("redirect_uri_mismatch");
    expect((await call(t.adminToken, "get", `/v1/connections/${connection.id}`)).json().status).toBe("unauthorized");
  });

  it("refreshes an expiring access token: 20 concurrent calls cause exactly one refresh", async () => {
    await google.admin("PUT", "/settings", { accessTokenTtlSeconds: 30 });
    const connection = await newConnection();
    await authorize(connection.id);
    await google.admin("PUT", "/settings", { accessTokenTtlSeconds: 3599 });
    const before = await stats();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => call(t.adminToken, "post", `/v1/connections/${connection.id}/test`)),
    );
    expect(results.map((r) => r.json())).toEqual(Array.from({ length: 20 }, () => ({ ok: true, email: user })));
    const after = await stats();
    expect(after.refreshes - before.refreshes).toBe(1);
    expect(after.requests - before.requests).toBe(20);
  });

  it("a revoked grant takes the connection offline with the reason; work then fails at once; reauthorizing brings it back", async () => {
    await google.admin("PUT", "/settings", { accessTokenTtlSeconds: 30 });
    const connection = await newConnection();
    await authorize(connection.id);
    await google.admin("PUT", "/settings", { accessTokenTtlSeconds: 3599 });
    await google.admin("POST", `/users/${encodeURIComponent(user)}/revoke`, { clientId: client.clientId });
    const test = (await call(t.adminToken, "post", `/v1/connections/${connection.id}/test`)).json();
    expect(test).toMatchObject({ ok: false, error: { code: "token_revoked" } });
    const offline = (await call(t.adminToken, "get", `/v1/connections/${connection.id}`)).json();
    expect(offline.status).toBe("offline");
    expect(offline.offlineReason).toMatchObject({ code: "token_revoked", message: expect.any(String), at: expect.any(String) });
    const before = await stats();
    const again = (await call(t.adminToken, "post", `/v1/connections/${connection.id}/test`)).json();
    expect(again.error.code).toBe("token_revoked");
    expect(await stats()).toEqual(before);
    await authorize(connection.id);
    expect((await call(t.adminToken, "get", `/v1/connections/${connection.id}`)).json()).toMatchObject({ status: "online", offlineReason: null });
    expect((await call(t.adminToken, "post", `/v1/connections/${connection.id}/test`)).json()).toEqual({ ok: true, email: user });
  });

  it("a grant revoked while the access token is still fresh: Google's 401 leads to the refresh that finds it revoked", async () => {
    const connection = await newConnection();
    await authorize(connection.id);
    await google.admin("POST", `/users/${encodeURIComponent(user)}/revoke`, { clientId: client.clientId });
    const test = (await call(t.adminToken, "post", `/v1/connections/${connection.id}/test`)).json();
    expect(test).toMatchObject({ ok: false, error: { code: "token_revoked" } });
    expect((await call(t.adminToken, "get", `/v1/connections/${connection.id}`)).json().status).toBe("offline");
  });

  it("deauthorize revokes the grant at Google and sets unauthorized", async () => {
    const connection = await newConnection();
    await authorize(connection.id);
    const refreshToken = await storedRefreshToken(connection.id);
    const res = await call(t.adminToken, "post", `/v1/connections/${connection.id}/deauthorize`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: "unauthorized", email: null });
    expect(await refreshAtGoogle(refreshToken)).toEqual({ status: 400, error: "invalid_grant" });
  });

  it("deleting an authorized connection revokes its grant at Google", async () => {
    const connection = await newConnection();
    await authorize(connection.id);
    const refreshToken = await storedRefreshToken(connection.id);
    expect((await call(t.adminToken, "delete", `/v1/connections/${connection.id}`)).statusCode).toBe(204);
    expect(await refreshAtGoogle(refreshToken)).toEqual({ status: 400, error: "invalid_grant" });
  });

  it("never shows a token or a secret in a response or a log line", async () => {
    const rows = await t.store.db.query("SELECT tokens_sealed FROM connections WHERE tokens_sealed IS NOT NULL");
    expect(rows.length).toBeGreaterThan(0);
    const secrets = [client.clientSecret, ...seenTokens];
    for (const r of rows) {
      const tokens = JSON.parse(t.secrets.open(r.tokens_sealed));
      secrets.push(tokens.accessToken, tokens.refreshToken);
    }
    const everything = seen.join("\n") + t.logs.join("");
    for (const s of secrets) expect(everything).not.toContain(s);
    expect(JSON.stringify(rows)).not.toContain(client.clientSecret);
  });
});
