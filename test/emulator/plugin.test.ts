import Fastify, { type FastifyInstance } from "fastify";
import { gmail } from "@googleapis/gmail";
import { OAuth2Client } from "google-auth-library";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildEmulator, emulatorPlugin, seedSandbox } from "../../emulator/index.ts";
import { consent, SCOPES } from "./helpers.ts";

let app: FastifyInstance;
let origin: string;
const PREFIX = "/sandbox/google";
const DEMO = { clientId: "demo.apps.googleusercontent.com", clientSecret: "demo-secret", email: "demo@mailbridge.test" };

beforeAll(async () => {
  app = Fastify();
  app.post("/v1/echo", async (request) => ({ got: request.body }));
  await app.register(emulatorPlugin, { prefix: PREFIX });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.address();
  origin = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  await seedSandbox(app, PREFIX, { ...DEMO, redirectUris: [`${origin}/oauth2/callback`] });
});
afterAll(() => app.close());

describe("mounted in a service under /sandbox/google", () => {
  it("leaves the parent's parsers and not-found handler alone", async () => {
    const json = await app.inject({ method: "POST", url: "/v1/echo", payload: { a: 1 } });
    expect(json.json()).toEqual({ got: { a: 1 } });
    const form = await app.inject({ method: "POST", url: "/v1/echo", headers: { "content-type": "application/x-www-form-urlencoded" }, payload: "a=1" });
    expect(form.statusCode).toBe(415);
    const missing = await app.inject({ method: "GET", url: "/nowhere" });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ statusCode: 404, error: "Not Found" });
    const inside = await app.inject({ method: "GET", url: `${PREFIX}/nowhere` });
    expect(inside.json().error.status).toBe("NOT_FOUND");
  });

  it("runs the consent flow with relative form actions and serves the seeded demo mailbox", async () => {
    const base = `${origin}${PREFIX}`;
    const auth = new OAuth2Client({
      clientId: DEMO.clientId,
      clientSecret: DEMO.clientSecret,
      redirectUri: `${origin}/oauth2/callback`,
      endpoints: { oauth2AuthBaseUrl: `${base}/o/oauth2/v2/auth`, oauth2TokenUrl: `${base}/token`, oauth2RevokeUrl: `${base}/revoke` },
    });
    const result = await consent(auth.generateAuthUrl({ access_type: "offline", scope: [SCOPES.email, SCOPES.readonly] }), { email: DEMO.email });
    expect(result.status).toBe(302);
    expect(result.location!.pathname).toBe("/oauth2/callback");
    const { tokens } = await auth.getToken(result.location!.searchParams.get("code")!);
    auth.setCredentials(tokens);
    // googleapis-common drops the path of a *global* rootUrl (it resolves "/gmail/v1/…" against
    // it with new URL), so under a prefix the root URL has to be passed on each call.
    const api = gmail({ version: "v1", auth, retry: false });
    const o = { rootUrl: `${base}/` };
    const profile = await api.users.getProfile({ userId: "me" }, o);
    expect(profile.data.messagesTotal).toBe(50);
    expect(Number(profile.data.threadsTotal)).toBeLessThan(50);
    const withAttachments = await api.users.messages.list({ userId: "me", q: "has:attachment in:anywhere" }, o);
    expect(withAttachments.data.resultSizeEstimate).toBeGreaterThan(0);
    const labels = (await api.users.labels.list({ userId: "me" }, o)).data.labels!.filter((l) => l.type === "user");
    expect(labels.length).toBeGreaterThan(0);
    const first = withAttachments.data.messages![0].id!;
    const full = await api.users.messages.get({ userId: "me", id: first }, o);
    const attachment = full.data.payload!.parts!.find((p) => p.filename);
    expect(attachment?.body?.attachmentId).toBeTruthy();
    // The batch endpoint works under the prefix too, with the prefix in the inner path or not.
    const boundary = "bb";
    const part = (path: string, id: string) => `--${boundary}\r\nContent-Type: application/http\r\nContent-ID: ${id}\r\n\r\nGET ${path}\r\n\r\n`;
    const res = await fetch(`${base}/batch/gmail/v1`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens.access_token}`, "content-type": `multipart/mixed; boundary=${boundary}` },
      body: part("/gmail/v1/users/me/profile", "a") + part(`${PREFIX}/gmail/v1/users/me/profile`, "b") + `--${boundary}--\r\n`,
    });
    const text = await res.text();
    expect(text.match(/HTTP\/1\.1 200 OK/g)?.length).toBe(2);
    const stats = await (await fetch(`${base}/_admin/stats`)).json();
    expect(stats.users[DEMO.email].requests).toBe(6);
  });

  it("answers bad input under the prefix in each endpoint family's body", async () => {
    const token = await app.inject({ method: "POST", url: `${PREFIX}/token`, payload: { grant_type: { toString: 1 } } });
    expect(token.statusCode).toBe(400);
    expect(token.json()).toEqual({ error: "invalid_request", error_description: "Invalid value at 'grant_type' (TYPE_STRING), {…}" });
    const admin = await app.inject({ method: "POST", url: `${PREFIX}/_admin/users`, payload: { email: "p@x.test", messages: [null] } });
    expect(admin.statusCode).toBe(400);
    expect(admin.json().error.code).toBe("invalid_request");
    const decision = await app.inject({ method: "POST", url: `${PREFIX}/o/oauth2/v2/auth/decision`, payload: { client_id: [1] } });
    expect(decision.statusCode).toBe(400);
    expect(decision.headers["content-type"]).toMatch(/^text\/html/);
    const gmailCall = await app.inject({ method: "POST", url: `${PREFIX}/gmail/v1/users/me/messages/batchDelete`, headers: { "content-type": "application/json" }, payload: "{" });
    expect(gmailCall.statusCode).toBe(400);
    expect(gmailCall.json().error.errors[0].reason).toBe("parseError");
    const unknownAdmin = await app.inject({ method: "GET", url: `${PREFIX}/_admin/nowhere` });
    expect(unknownAdmin.json()).toEqual({ error: { code: "not_found", message: "No such admin route." } });
  });

  it("builds a standalone app that answers through inject", async () => {
    const standalone = await buildEmulator({ now: () => 0 });
    const res = await standalone.inject({ method: "GET", url: "/gmail/v1/users/me/profile" });
    expect(res.statusCode).toBe(401);
    await standalone.close();
  });
});
