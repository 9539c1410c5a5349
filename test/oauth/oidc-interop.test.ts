/**
 * Interop (issue 12): Mailbridge against oidc-provider, an independent certified OpenID provider,
 * with only the endpoint URLs, GOOGLE_CERTS_URL and GOOGLE_ISSUER changed. The provider knows
 * Google's scope strings, rotates refresh tokens with reuse detection (a consumed refresh token
 * revokes the whole grant), requires client authentication at its revocation endpoint and puts
 * `iss` on its authorization responses (RFC 9207). Gmail is stood in for by a resource server
 * that asks the provider's userinfo endpoint whether a bearer token is alive.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { USERINFO_EMAIL_SCOPE } from "../../connector/scopes.ts";
import { startOidcProvider, type TestOidcProvider } from "./oidc-provider.ts";

const PUBLIC_URL = "http://mailbridge.test";
const CALLBACK = `${PUBLIC_URL}/oauth2/callback`;
const READONLY = "https://www.googleapis.com/auth/gmail.readonly";

describe("interop with oidc-provider (a standards-compliant OpenID provider)", () => {
  let op: TestOidcProvider;
  let issuer: string;
  let t: TestApp;
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
    return op.consent(start.json().authorizeUrl, email);
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

  beforeAll(async () => {
    op = await startOidcProvider(CALLBACK);
    issuer = op.issuer;
    t = await startTestApp({ env: { PUBLIC_URL, ...op.env } });
    const ic = await call("post", "/v1/iclients", { name: "oidc-provider", application: "gmail", ...op.client });
    expect(ic.statusCode, ic.body).toBe(201);
    iclientId = ic.json().id;
  });

  afterAll(async () => {
    await t?.close();
    await op?.close();
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
    const before = op.refreshes();
    expect((await call("post", `/v1/connections/${connection.id}/test`)).json()).toEqual({ ok: true, email });
    const second = await storedRefreshToken(connection.id);
    expect(second === first, "the rotated refresh token was stored").toBe(false);
    expect((await call("post", `/v1/connections/${connection.id}/test`)).json()).toEqual({ ok: true, email });
    const third = await storedRefreshToken(connection.id);
    expect(third === second, "the rotated refresh token was stored").toBe(false);
    expect(op.refreshes() - before).toBe(2);
    expect((await call("get", `/v1/connections/${connection.id}`)).json()).toMatchObject({ status: "online", offlineReason: null });
    expect(await op.active(third)).toBe(true);

    const revokedBefore = op.revocations.length;
    const res = await call("post", `/v1/connections/${connection.id}/deauthorize`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: "unauthorized", email: null, revocation: null });
    // One POST, the token in the body (not the URL), the client authenticated as the provider requires.
    expect(op.revocations.slice(revokedBefore)).toEqual([{ query: "", status: 200, clientId: op.client.clientId }]);
    expect(await op.active(third)).toBe(false);
    expect(await op.refresh(third)).toMatchObject({ status: 400, error: "invalid_grant" });
  });

  it("a token response without scope: online with the requested scopes granted, and refreshes keep them", async () => {
    op.switches.omitScope = true;
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
      op.switches.omitScope = false;
    }
  });

  it("a revocation the server refuses: tokens dropped, the answer and the record say the grant may be alive; Retry revoke finishes it", async () => {
    const email = `cy-${randomBytes(3).toString("hex")}@example.org`;
    const connection = await newConnection();
    expect((await deliver(await consent(connection.id, email))).statusCode).toBe(200);
    const refreshToken = await storedRefreshToken(connection.id);

    op.switches.refuseRevocation = true;
    let answer;
    try {
      answer = await call("post", `/v1/connections/${connection.id}/deauthorize`);
    } finally {
      op.switches.refuseRevocation = false;
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
    expect(await op.active(refreshToken)).toBe(true);

    // Another account cannot see it, let alone retry it.
    const stranger = await t.newAccount();
    expect((await api(t.app, stranger).post(`/v1/connections/${connection.id}/revoke`)).statusCode).toBe(404);
    expect(await op.active(refreshToken)).toBe(true);

    const retried = await call("post", `/v1/connections/${connection.id}/revoke`);
    expect(retried.statusCode, retried.body).toBe(200);
    expect(retried.json()).toMatchObject({ status: "unauthorized", revocation: null });
    expect(await op.active(refreshToken)).toBe(false);
    expect(await op.refresh(refreshToken)).toMatchObject({ status: 400, error: "invalid_grant" });
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

  it("an ID token that does not verify (another issuer, unknown keys) is refused and changes nothing", { timeout: 120_000 }, async () => {
    for (const [env, problem] of [
      [{ GOOGLE_ISSUER: "https://accounts.google.com" }, "wrong issuer"],
      [{ GOOGLE_CERTS_URL: `${issuer}/no-such-jwks` }, "could not be fetched"],
    ] as const) {
      // Another process on the same store, configured differently.
      const other = await startTestApp({ store: t.store, secrets: t.secrets, env: { PUBLIC_URL, ...op.env, ...env } });
      try {
        const c = api(other.app, other.adminToken);
        const name = `strict-${randomBytes(3).toString("hex")}`;
        const ic = (await c.post("/v1/iclients", { name, application: "gmail", ...op.client })).json();
        const connection = (await c.post("/v1/connections", { name, application: "gmail", scopes: [READONLY], iClientId: ic.id })).json();
        const redirect = await op.consent((await c.post(`/v1/connections/${connection.id}/authorize`)).json().authorizeUrl, "fay@example.org");
        // Without the optional `iss` parameter only the ID token can tell who answered.
        redirect.searchParams.delete("iss");
        const res = await other.app.inject({ url: redirect.pathname + redirect.search });
        expect(res.statusCode).toBe(400);
        expect(res.body).toContain("id_token_invalid");
        expect(res.body).toContain(problem);
        expect((await c.get(`/v1/connections/${connection.id}`)).json()).toMatchObject({ status: "unauthorized", email: null });
      } finally {
        await other.close();
      }
    }
  });

  it("never shows a token or the client secret in a response or a log line", () => {
    const everything = seen.join("\n") + t.logs.join("");
    expect(everything).not.toContain(op.client.clientSecret);
    expect(everything).not.toMatch(/refresh_token=|"refreshToken"|"accessToken"/);
  });
});
