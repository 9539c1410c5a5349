/**
 * The account's address comes from the ID token the emulator signs (GOOGLE.md "Sign-in identity"),
 * verified against its keys at GOOGLE_CERTS_URL, standalone and in the sandbox. The userinfo URL
 * points at a closed port, so an authorization that still learns the address took it from the
 * ID token; keys of another issuer make the same flow fail with nothing changed. A token endpoint
 * that answers no ID token (a provider without OpenID Connect) leaves userinfo as the fallback.
 */
import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SANDBOX_USER } from "../../server/sandbox.ts";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { pgliteBackend, type TestDb } from "../support/db.ts";
import { authorizeConnection, startGoogle, type TestGoogle } from "../support/google.ts";
import { freePort } from "../support/cluster.ts";
import { startSandboxApp } from "../support/sandbox.ts";

const READONLY = "https://www.googleapis.com/auth/gmail.readonly";

describe("address from the ID token against a standalone emulator", () => {
  let google: TestGoogle;
  let impostor: TestGoogle;
  let deadUserinfo: string;
  /** One database for the apps of these tests (each app is configured differently). */
  let store: TestDb;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    store = await pgliteBackend.open();
    google = await startGoogle();
    impostor = await startGoogle();
    deadUserinfo = `http://127.0.0.1:${await freePort()}/oauth2/v2/userinfo`;
  });
  afterAll(async () => {
    for (const t of apps) await t.close();
    await store?.close();
    await google?.close();
    await impostor?.close();
  });

  async function connectionOn(env: Record<string, string>) {
    const t = await startTestApp({ store, env: { PUBLIC_URL: "http://mailbridge.test", ...google.env, GOOGLE_USERINFO_URL: deadUserinfo, ...env } });
    apps.push(t);
    const client = await google.newClient([t.config.callbackUrl]);
    const a = api(t.app, t.adminToken);
    const iclient = await a.post("/v1/iclients", { name: `ic ${apps.length}`, application: "gmail", ...client });
    const connection = await a.post("/v1/connections", { name: `c ${apps.length}`, application: "gmail", scopes: [READONLY], iClientId: iclient.json().id });
    expect(connection.statusCode, connection.body).toBe(201);
    return { t, a, id: connection.json().id as string };
  }

  it("sets the connection online with the address the verified ID token carries, without userinfo", async () => {
    const user = await google.newUser("Signed.In@Example.com");
    const { t, a, id } = await connectionOn({});
    const callback = await authorizeConnection(t.app, t.adminToken, id, { email: user });
    expect(callback.statusCode, callback.body).toBe(200);
    expect((await a.get(`/v1/connections/${id}`)).json()).toMatchObject({ status: "online", email: "signed.in@example.com", missingScopes: [] });
  });

  it("refuses an ID token the configured keys did not sign: the connection is not changed", async () => {
    const user = await google.newUser();
    const { t, a, id } = await connectionOn({ GOOGLE_CERTS_URL: `${impostor.baseUrl}/oauth2/v3/certs` });
    const callback = await authorizeConnection(t.app, t.adminToken, id, { email: user });
    expect(callback.statusCode).toBe(400);
    expect(callback.body).toContain("id_token_invalid");
    expect((await a.get(`/v1/connections/${id}`)).json()).toMatchObject({ status: "unauthorized" });
  });

  it("refuses an ID token from another issuer than GOOGLE_ISSUER", async () => {
    const user = await google.newUser();
    const { t, a, id } = await connectionOn({ GOOGLE_ISSUER: "https://issuer.example" });
    // The emulator's redirect carries no iss parameter: the ID token's iss is the check that fails.
    const callback = await authorizeConnection(t.app, t.adminToken, id, { email: user });
    expect(callback.statusCode).toBe(400);
    expect(callback.body).toContain("id_token_invalid");
    expect((await a.get(`/v1/connections/${id}`)).json().status).toBe("unauthorized");
  });
});

describe("address from the ID token in the sandbox", () => {
  let t: TestApp;
  beforeAll(async () => {
    const dead = await freePort();
    t = await startSandboxApp({ GOOGLE_USERINFO_URL: `http://127.0.0.1:${dead}/userinfo` });
  }, 60_000);
  afterAll(() => t?.close());

  it("authorizes the demo user with the address from the ID token the mounted emulator signed", async () => {
    expect(t.config.googleCertsUrl).toBe(`${t.config.publicUrl}/sandbox/google/oauth2/v3/certs`);
    const a = api(t.app, t.adminToken);
    const iclient = (await a.get("/v1/iclients")).json().items.find((i: { name: string }) => i.name === "Sandbox client");
    const res = await a.post("/v1/connections", { name: "demo", application: "gmail", scopes: [READONLY], iClientId: iclient.id });
    const callback = await authorizeConnection(t.app, t.adminToken, res.json().id, { email: SANDBOX_USER });
    expect(callback.statusCode, callback.body).toBe(200);
    expect((await a.get(`/v1/connections/${res.json().id}`)).json()).toMatchObject({ status: "online", email: SANDBOX_USER });
  });
});

describe("userinfo as the fallback when the token response carries no ID token", () => {
  let google: TestGoogle;
  let front: http.Server;
  let t: TestApp;

  beforeAll(async () => {
    google = await startGoogle();
    // The emulator's token endpoint with the id_token taken out of its answers.
    front = http.createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const upstream = await fetch(google.env.GOOGLE_TOKEN_URL, {
        method: "POST",
        headers: { "content-type": String(req.headers["content-type"] ?? "application/x-www-form-urlencoded") },
        body: Buffer.concat(chunks),
      });
      const { id_token: _dropped, ...body } = (await upstream.json()) as Record<string, unknown>;
      res.writeHead(upstream.status, { "content-type": "application/json" }).end(JSON.stringify(body));
    });
    await new Promise<void>((r) => front.listen(0, "127.0.0.1", r));
    const tokenUrl = `http://127.0.0.1:${(front.address() as net.AddressInfo).port}/token`;
    t = await startTestApp({ env: { PUBLIC_URL: "http://mailbridge.test", ...google.env, GOOGLE_TOKEN_URL: tokenUrl } });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await new Promise((r) => front?.close(r));
    await google?.close();
  });

  it("reads the address from userinfo", async () => {
    const user = await google.newUser("no-id-token@example.com");
    const client = await google.newClient([t.config.callbackUrl]);
    const a = api(t.app, t.adminToken);
    const iclient = await a.post("/v1/iclients", { name: "ic", application: "gmail", ...client });
    const connection = await a.post("/v1/connections", { name: "c", application: "gmail", scopes: [READONLY], iClientId: iclient.json().id });
    const callback = await authorizeConnection(t.app, t.adminToken, connection.json().id, { email: user });
    expect(callback.statusCode, callback.body).toBe(200);
    expect((await a.get(`/v1/connections/${connection.json().id}`)).json()).toMatchObject({ status: "online", email: user });
  });
});
