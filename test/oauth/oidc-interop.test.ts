/**
 * Interop (issue 12): Mailbridge against oidc-provider, an independent certified OpenID provider,
 * with only the endpoint URLs, GOOGLE_CERTS_URL and GOOGLE_ISSUER changed. The provider knows
 * Google's scope strings, rotates refresh tokens with reuse detection (a consumed refresh token
 * revokes the whole grant), requires client authentication at its revocation endpoint and puts
 * `iss` on its authorization responses (RFC 9207). Gmail is stood in for by a resource server
 * that asks the provider's userinfo endpoint whether a bearer token is alive.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { Provider } from "oidc-provider";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { GMAIL_SCOPE_URLS, USERINFO_EMAIL_SCOPE } from "../../connector/scopes.ts";

const PUBLIC_URL = "http://mailbridge.test";
const CALLBACK = `${PUBLIC_URL}/oauth2/callback`;
const READONLY = "https://www.googleapis.com/auth/gmail.readonly";

/** Switches the test flips on the provider's side, each like a real server's behaviour. */
const provider_ = { omitScope: false, refuseRevocation: false };

interface RevocationSeen {
  query: string;
  status: number;
  clientId?: string;
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A cookie-keeping client that follows the provider's redirects until one leaves it. */
async function browse(startUrl: string, leaveAt: string, login: string): Promise<URL> {
  const jar = new Map<string, string>();
  let url = new URL(startUrl);
  let form: URLSearchParams | undefined;
  for (let hops = 0; hops < 20; hops++) {
    const res = await fetch(url, {
      method: form ? "POST" : "GET",
      body: form,
      redirect: "manual",
      headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = pair!.indexOf("=");
      jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    form = undefined;
    const location = res.headers.get("location");
    if (location) {
      url = new URL(location, url);
      if (url.href.startsWith(leaveAt)) return url;
      continue;
    }
    const page = await res.text();
    if (res.status !== 200) throw new Error(`provider answered ${res.status}: ${page.slice(0, 500)}`);
    // The provider's own login and consent forms (devInteractions), submitted as a person would.
    const action = /<form[^>]*action="([^"]+)"/.exec(page)?.[1];
    const prompt = /name="prompt" value="(\w+)"/.exec(page)?.[1];
    if (!action || !prompt) throw new Error(`no form on the provider's page: ${page.slice(0, 500)}`);
    url = new URL(action, url);
    form = new URLSearchParams(prompt === "login" ? { prompt, login, password: "any" } : { prompt });
  }
  throw new Error("too many redirects");
}

describe("interop with oidc-provider (a standards-compliant OpenID provider)", () => {
  let issuer: string;
  let provider: Provider;
  let providerServer: http.Server;
  let gmailServer: http.Server;
  let t: TestApp;
  const client = { clientId: `mailbridge-${randomBytes(4).toString("hex")}`, clientSecret: randomBytes(24).toString("base64url") };
  const revocations: RevocationSeen[] = [];
  let refreshes = 0;
  let iclientId: string;
  const seen: string[] = [];

  async function call(method: "get" | "post" | "delete", url: string, body?: unknown) {
    const c = api(t.app, t.adminToken) as any;
    const res = await (body === undefined ? c[method](url) : c[method](url, body));
    seen.push(res.body);
    return res;
  }

  async function newConnection() {
    const res = await call("post", "/v1/connections", { name: `c-${randomBytes(4).toString("hex")}`, application: "gmail", scopes: [READONLY], iClientId: iclientId });
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  }

  /** Save & authorize through the provider's login and consent pages; returns the callback redirect. */
  async function consent(connectionId: string, email: string): Promise<URL> {
    const start = await call("post", `/v1/connections/${connectionId}/authorize`);
    expect(start.statusCode).toBe(200);
    return browse(start.json().authorizeUrl, CALLBACK, email);
  }

  async function deliver(redirect: URL) {
    const res = await t.app.inject({ method: "GET", url: redirect.pathname + redirect.search });
    seen.push(res.body);
    return res;
  }

  async function storedRefreshToken(connectionId: string): Promise<string> {
    const sealed = (await t.store.db.query("SELECT tokens_sealed FROM connections WHERE id = $1", [connectionId]))[0]!.tokens_sealed;
    return JSON.parse(t.secrets.open(sealed)).refreshToken;
  }

  /** What the provider says of a refresh token, used directly (this consumes it when it works). */
  async function refreshAtProvider(refreshToken: string): Promise<{ status: number; error?: string }> {
    const res = await fetch(`${issuer}/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: client.clientId, client_secret: client.clientSecret }),
    });
    return { status: res.status, error: (await res.json()).error };
  }

  /** RFC 7662 introspection: is the token alive at the provider (without using it)? */
  async function active(token: string): Promise<boolean> {
    const res = await fetch(`${issuer}/token/introspection`, {
      method: "POST",
      body: new URLSearchParams({ token, client_id: client.clientId, client_secret: client.clientSecret }),
    });
    return (await res.json()).active;
  }

  beforeAll(async () => {
    providerServer = http.createServer();
    issuer = await listen(providerServer);
    const key = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
    provider = new Provider(issuer, {
      clients: [
        {
          client_id: client.clientId,
          client_secret: client.clientSecret,
          redirect_uris: [CALLBACK],
          grant_types: ["authorization_code", "refresh_token"],
          response_types: ["code"],
          token_endpoint_auth_method: "client_secret_post",
        },
      ],
      jwks: { keys: [{ ...key, kid: "interop-1", use: "sig", alg: "RS256" }] },
      // Google's scope strings, as Google's own server knows them.
      scopes: ["openid", "email", "offline_access", USERINFO_EMAIL_SCOPE, ...GMAIL_SCOPE_URLS],
      claims: { email: ["email", "email_verified"], [USERINFO_EMAIL_SCOPE]: ["email", "email_verified"] },
      // Like Google: the ID token carries the address even when an access token is issued too.
      conformIdTokenClaims: false,
      findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub, email: sub, email_verified: true }) }),
      features: { revocation: { enabled: true }, introspection: { enabled: true }, devInteractions: { enabled: true } },
      // Offline access the Google way (access_type=offline), not through the offline_access scope.
      issueRefreshToken: async (_ctx, c) => c.grantTypeAllowed("refresh_token"),
      rotateRefreshToken: true,
      // Under Mailbridge's 60 s refresh margin: every use of the connection refreshes first.
      ttl: { AccessToken: 30, AuthorizationCode: 60, IdToken: 3600, RefreshToken: 86400, Grant: 86400, Interaction: 600, Session: 3600 },
      pkce: { required: () => true },
    });
    provider.on("grant.success", (ctx) => {
      if ((ctx as any).oidc.params?.grant_type === "refresh_token") refreshes += 1;
    });
    provider.use(async (ctx, next) => {
      if (ctx.path === "/token/revocation" && provider_.refuseRevocation) {
        ctx.status = 400;
        ctx.body = { error: "invalid_request", error_description: "revocation refused for this test" };
        revocations.push({ query: ctx.querystring, status: 400 });
        return;
      }
      await next();
      if (ctx.path === "/token/revocation") revocations.push({ query: ctx.querystring, status: ctx.status, clientId: (ctx as any).oidc?.client?.clientId });
      // A token response without `scope` (RFC 6749 §5.1: "as requested").
      if (ctx.path === "/token" && provider_.omitScope && ctx.body && typeof ctx.body === "object") delete (ctx.body as any).scope;
    });
    providerServer.on("request", provider.callback());

    // Gmail's stand-in: a resource server that accepts a bearer token the provider says is alive.
    gmailServer = http.createServer(async (req, res) => {
      const userinfo = await fetch(`${issuer}/me`, { headers: { authorization: req.headers.authorization ?? "" } });
      if (req.url !== "/gmail/v1/users/me/profile" || !userinfo.ok) {
        res.writeHead(userinfo.ok ? 404 : 401, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: 401, message: "Request had invalid authentication credentials.", status: "UNAUTHENTICATED" } }));
        return;
      }
      const { email } = (await userinfo.json()) as { email: string };
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ emailAddress: email, messagesTotal: 0, threadsTotal: 0, historyId: "1" }));
    });
    const gmailUrl = await listen(gmailServer);

    t = await startTestApp({
      env: {
        PUBLIC_URL,
        GOOGLE_AUTH_URL: `${issuer}/auth`,
        GOOGLE_TOKEN_URL: `${issuer}/token`,
        GOOGLE_REVOKE_URL: `${issuer}/token/revocation`,
        GOOGLE_USERINFO_URL: `${issuer}/me`,
        GOOGLE_CERTS_URL: `${issuer}/jwks`,
        GOOGLE_ISSUER: issuer,
        GMAIL_API_URL: `${gmailUrl}/`,
      },
    });
    const ic = await call("post", "/v1/iclients", { name: "oidc-provider", application: "gmail", ...client });
    expect(ic.statusCode, ic.body).toBe(201);
    iclientId = ic.json().id;
  });

  afterAll(async () => {
    await t?.close();
    await new Promise((r) => gmailServer?.close(r));
    await new Promise((r) => providerServer?.close(r));
  });

  it("authorize → online with the ID token's address and the scopes; two refreshes keep it online; deauthorize revokes for real", async () => {
    const email = `ada-${randomBytes(3).toString("hex")}@example.org`;
    const connection = await newConnection();
    const redirect = await consent(connection.id, email);
    expect(redirect.searchParams.get("iss")).toBe(issuer);
    const callback = await deliver(redirect);
    expect(callback.statusCode, callback.body).toBe(200);
    const online = (await call("get", `/v1/connections/${connection.id}`)).json();
    expect(online).toMatchObject({ status: "online", email, missingScopes: [], revocation: null });
    expect(online.grantedScopes).toEqual(expect.arrayContaining([READONLY, USERINFO_EMAIL_SCOPE]));

    // Each Test connection refreshes first (30 s tokens): the provider rotates the refresh token
    // every time and revokes the grant if a consumed one is presented again.
    const first = await storedRefreshToken(connection.id);
    const before = refreshes;
    expect((await call("post", `/v1/connections/${connection.id}/test`)).json()).toEqual({ ok: true, email });
    const second = await storedRefreshToken(connection.id);
    expect(second).not.toBe(first);
    expect((await call("post", `/v1/connections/${connection.id}/test`)).json()).toEqual({ ok: true, email });
    const third = await storedRefreshToken(connection.id);
    expect(third).not.toBe(second);
    expect(refreshes - before).toBe(2);
    expect((await call("get", `/v1/connections/${connection.id}`)).json()).toMatchObject({ status: "online", offlineReason: null });
    expect(await active(third)).toBe(true);

    const revokedBefore = revocations.length;
    const res = await call("post", `/v1/connections/${connection.id}/deauthorize`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: "unauthorized", email: null, revocation: null });
    // One POST, the token in the body (not the URL), the client authenticated as the provider requires.
    expect(revocations.slice(revokedBefore)).toEqual([{ query: "", status: 200, clientId: client.clientId }]);
    expect(await active(third)).toBe(false);
    expect(await refreshAtProvider(third)).toMatchObject({ status: 400, error: "invalid_grant" });
  });

  it("a token response without scope: online with the requested scopes granted, and refreshes keep them", async () => {
    provider_.omitScope = true;
    try {
      const email = `bob-${randomBytes(3).toString("hex")}@example.org`;
      const connection = await newConnection();
      const callback = await deliver(await consent(connection.id, email));
      expect(callback.statusCode, callback.body).toBe(200);
      const online = (await call("get", `/v1/connections/${connection.id}`)).json();
      expect(online).toMatchObject({ status: "online", email, missingScopes: [] });
      expect(online.grantedScopes).toEqual(expect.arrayContaining([READONLY, USERINFO_EMAIL_SCOPE]));
      expect((await call("post", `/v1/connections/${connection.id}/test`)).json()).toEqual({ ok: true, email });
      expect((await call("get", `/v1/connections/${connection.id}`)).json()).toMatchObject({ status: "online", missingScopes: [] });
    } finally {
      provider_.omitScope = false;
    }
  });

  it("a revocation the server refuses: tokens dropped, the answer and the record say the grant may be alive; Retry revoke finishes it", async () => {
    const email = `cy-${randomBytes(3).toString("hex")}@example.org`;
    const connection = await newConnection();
    expect((await deliver(await consent(connection.id, email))).statusCode).toBe(200);
    const refreshToken = await storedRefreshToken(connection.id);

    provider_.refuseRevocation = true;
    let answer;
    try {
      answer = await call("post", `/v1/connections/${connection.id}/deauthorize`);
    } finally {
      provider_.refuseRevocation = false;
    }
    expect(answer.statusCode).toBe(200);
    const failed = answer.json();
    expect(failed).toMatchObject({
      status: "unauthorized",
      email: null,
      revocation: { status: "failed", at: expect.any(String), error: { code: "revocation_failed", message: expect.stringContaining("400 invalid_request") } },
    });
    expect((await call("get", `/v1/connections/${connection.id}`)).json().revocation).toEqual(failed.revocation);
    // The local tokens are gone, so nothing uses the connection; the grant is still alive out there.
    expect((await call("post", `/v1/connections/${connection.id}/test`)).json()).toMatchObject({ ok: false, error: { code: "not_authorized" } });
    expect(await active(refreshToken)).toBe(true);

    const retried = await call("post", `/v1/connections/${connection.id}/revoke`);
    expect(retried.statusCode, retried.body).toBe(200);
    expect(retried.json()).toMatchObject({ status: "unauthorized", revocation: null });
    expect(await active(refreshToken)).toBe(false);
    expect(await refreshAtProvider(refreshToken)).toMatchObject({ status: 400, error: "invalid_grant" });
    // Nothing is pending any more.
    const again = await call("post", `/v1/connections/${connection.id}/revoke`);
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe("conflict");
    const row = (await t.store.db.query("SELECT revoke_token_sealed, tokens_sealed FROM connections WHERE id = $1", [connection.id]))[0]!;
    expect(row).toEqual({ revoke_token_sealed: null, tokens_sealed: null });
  });

  it("an authorization response naming another issuer (RFC 9207) is refused and changes nothing", async () => {
    const email = `dee-${randomBytes(3).toString("hex")}@example.org`;
    const connection = await newConnection();
    const redirect = await consent(connection.id, email);
    redirect.searchParams.set("iss", "https://attacker.example");
    const res = await deliver(redirect);
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain("issuer_mismatch");
    expect((await call("get", `/v1/connections/${connection.id}`)).json()).toMatchObject({ status: "unauthorized", email: null });
  });

  it("never shows a token or the client secret in a response or a log line", () => {
    const everything = seen.join("\n") + t.logs.join("");
    expect(everything).not.toContain(client.clientSecret);
    expect(everything).not.toMatch(/refresh_token=|"refreshToken"|"accessToken"/);
  });
});
