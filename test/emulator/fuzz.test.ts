/**
 * Fuzzing the emulator (issue 17): every route it registers (walked with Fastify's onRoute) gets
 * bodies whose fields hold values of the wrong type, NUL, unpaired surrogates, 1 MB strings,
 * deep nesting and `__proto__` keys; paths get bad escapes and long ids; headers get garbage
 * credentials; batch bodies, search queries and MIME messages get their own generators.
 * Asserts: no 5xx (faults are off), every error in Google's body for that endpoint family, no
 * stack frame or client secret in any answer, and another user's mailbox unchanged.
 * Seeded and bounded.
 */
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import fc from "fast-check";
import Fastify, { type FastifyInstance, type InjectOptions, type LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { frameworkErrors } from "../../emulator/error-handler.ts";
import { emulatorPlugin } from "../../emulator/index.ts";

const SEED = 17;
const ME = "fuzz@x.test";
const OTHER = "bystander@x.test";
const REDIRECT = "http://localhost:5555/cb";
const SECRET = `GOCSPX-fuzz-${randomBytes(8).toString("hex")}`;
const MAIL = "https://mail.google.com/";

type Family = "gmail" | "oauth" | "consent" | "admin" | "html404";

/**
 * The emulator's routes, their family and the body fields they read. Every route the emulator
 * registers is fuzzed whether it is listed or not (see {@link routeInfo}): a new route is fuzzed
 * from its first commit, and listing its fields aims the wrong types at them.
 */
const ROUTES: Record<string, { family: Family; fields: string[] }> = {
  "GET /o/oauth2/v2/auth": { family: "consent", fields: [] },
  "POST /o/oauth2/v2/auth/decision": {
    family: "consent",
    fields: ["client_id", "redirect_uri", "response_type", "scope", "state", "email", "decision", "granted_scope", "code_challenge", "code_challenge_method", "prompt", "access_type", "include_granted_scopes"],
  },
  "POST /token": { family: "oauth", fields: ["grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret", "refresh_token"] },
  "POST /revoke": { family: "oauth", fields: ["token"] },
  "GET /revoke": { family: "html404", fields: [] },
  "GET /oauth2/v2/userinfo": { family: "gmail", fields: [] },
  "GET /v1/userinfo": { family: "oauth", fields: [] },
  "GET /gmail/v1/users/:userId/profile": { family: "gmail", fields: [] },
  "GET /gmail/v1/users/:userId/messages": { family: "gmail", fields: [] },
  "GET /gmail/v1/users/:userId/messages/:id": { family: "gmail", fields: [] },
  "GET /gmail/v1/users/:userId/messages/:messageId/attachments/:id": { family: "gmail", fields: [] },
  "POST /gmail/v1/users/:userId/messages/send": { family: "gmail", fields: ["raw", "threadId", "labelIds"] },
  "POST /gmail/v1/users/:userId/messages/import": { family: "gmail", fields: ["raw", "threadId", "labelIds"] },
  "POST /gmail/v1/users/:userId/messages": { family: "gmail", fields: ["raw", "threadId", "labelIds", "payload"] },
  "POST /gmail/v1/users/:userId/messages/batchModify": { family: "gmail", fields: ["ids", "addLabelIds", "removeLabelIds"] },
  "POST /gmail/v1/users/:userId/messages/batchDelete": { family: "gmail", fields: ["ids"] },
  "POST /gmail/v1/users/:userId/messages/:id/modify": { family: "gmail", fields: ["addLabelIds", "removeLabelIds"] },
  "POST /gmail/v1/users/:userId/messages/:id/trash": { family: "gmail", fields: [] },
  "POST /gmail/v1/users/:userId/messages/:id/untrash": { family: "gmail", fields: [] },
  "DELETE /gmail/v1/users/:userId/messages/:id": { family: "gmail", fields: [] },
  "GET /gmail/v1/users/:userId/labels": { family: "gmail", fields: [] },
  "GET /gmail/v1/users/:userId/labels/:id": { family: "gmail", fields: [] },
  "POST /gmail/v1/users/:userId/labels": { family: "gmail", fields: ["name", "messageListVisibility", "labelListVisibility", "color"] },
  "PUT /gmail/v1/users/:userId/labels/:id": { family: "gmail", fields: ["name", "messageListVisibility", "labelListVisibility", "color"] },
  "PATCH /gmail/v1/users/:userId/labels/:id": { family: "gmail", fields: ["name", "messageListVisibility", "labelListVisibility", "color"] },
  "DELETE /gmail/v1/users/:userId/labels/:id": { family: "gmail", fields: [] },
  "POST /gmail/v1/users/:userId/drafts/send": { family: "gmail", fields: ["id", "message"] },
  "POST /gmail/v1/users/:userId/drafts": { family: "gmail", fields: ["id", "message"] },
  "GET /gmail/v1/users/:userId/drafts": { family: "gmail", fields: [] },
  "GET /gmail/v1/users/:userId/drafts/:id": { family: "gmail", fields: [] },
  "PUT /gmail/v1/users/:userId/drafts/:id": { family: "gmail", fields: ["id", "message"] },
  "DELETE /gmail/v1/users/:userId/drafts/:id": { family: "gmail", fields: [] },
  "GET /gmail/v1/users/:userId/history": { family: "gmail", fields: [] },
  "POST /gmail/v1/users/:userId/watch": { family: "gmail", fields: ["topicName", "labelIds", "labelFilterBehavior", "labelFilterAction"] },
  "POST /gmail/v1/users/:userId/stop": { family: "gmail", fields: [] },
  "GET /oauth2/v1/certs": { family: "gmail", fields: [] },
  "GET /oauth2/v3/certs": { family: "gmail", fields: [] },
  "POST /_admin/users/:email/messages": { family: "admin", fields: ["raw", "labelIds", "messages"] },
  "PUT /_admin/pubsub": { family: "admin", fields: ["topic", "pushEndpoint", "audience", "serviceAccountEmail", "minBackoffMs", "maxBackoffMs"] },
  "GET /_admin/pubsub": { family: "admin", fields: [] },
  "GET /gmail/v1/users/:userId/threads": { family: "gmail", fields: [] },
  "GET /gmail/v1/users/:userId/threads/:id": { family: "gmail", fields: [] },
  "POST /gmail/v1/users/:userId/threads/:id/modify": { family: "gmail", fields: ["addLabelIds", "removeLabelIds"] },
  "POST /gmail/v1/users/:userId/threads/:id/trash": { family: "gmail", fields: [] },
  "POST /gmail/v1/users/:userId/threads/:id/untrash": { family: "gmail", fields: [] },
  "DELETE /gmail/v1/users/:userId/threads/:id": { family: "gmail", fields: [] },
  "POST /batch/gmail/v1": { family: "gmail", fields: [] },
  "POST /batch": { family: "gmail", fields: [] },
  "POST /_admin/clients": { family: "admin", fields: ["clientId", "clientSecret", "redirectUris", "testing"] },
  "POST /_admin/users": { family: "admin", fields: ["email", "name", "messages", "generate"] },
  "GET /_admin/users/:email": { family: "admin", fields: [] },
  "POST /_admin/users/:email/revoke": { family: "admin", fields: ["clientId"] },
  "PUT /_admin/settings": { family: "admin", fields: ["accessTokenTtlSeconds", "quotaUnitsPerMinute", "latencyMs", "faults", "rotateRefreshTokens"] },
  "GET /_admin/settings": { family: "admin", fields: [] },
  "GET /_admin/stats": { family: "admin", fields: [] },
  "POST /_admin/stats/reset": { family: "admin", fields: [] },
};
/** Field names tried on a route that reads a body but is not listed above. */
const COMMON_FIELDS = ["id", "name", "ids", "raw", "labelIds", "threadId", "message", "email", "messages", "topicName", "clientId", "token"];

/** A route's family (from its path, as the emulator's own families are laid out) and fields. */
function routeInfo(key: string): { family: Family; fields: string[] } {
  const listed = ROUTES[key];
  if (listed) return listed;
  const [method, path] = key.split(" ");
  const family: Family = path.startsWith("/_admin") ? "admin" : path.startsWith("/o/oauth2/") ? "consent" : ["/token", "/revoke", "/v1/userinfo"].includes(path) ? "oauth" : "gmail";
  return { family, fields: method === "GET" || method === "DELETE" ? [] : COMMON_FIELDS };
}

const UPLOAD_ROUTES = Object.keys(ROUTES).filter((k) => /^(POST|PUT) \/gmail\/v1\/.*(messages\/send|messages\/import|messages|drafts(\/send|\/:id)?)$/.test(k));
const QUERY_NAMES = ["upload_id", "fields", "q", "labelIds", "maxResults", "pageToken", "includeSpamTrash", "format", "metadataHeaders", "startHistoryId", "historyTypes", "labelId", "uploadType", "internalDateSource", "token", "client_id", "redirect_uri", "scope", "response_type", "code_challenge_method", "prompt"];

let app: FastifyInstance;
const logLines: string[] = [];
/** Statuses seen per route, to check the fuzz reached the handlers and not only the auth check. */
const seen = new Map<string, number[]>();
const registered: string[] = [];
let bearer: string;
let otherBefore: string;

// Placeholders that the JSON writer swaps for text JSON.stringify cannot produce.
const DEEP = "\u0001deep";
const PROTO = "\u0001proto";
const BIG = "x".repeat(1024 * 1024);

/** Values of every wrong type and every awkward kind of text. */
const nasty: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant({ toString: 1 }),
  fc.constant({ valueOf: null, toString: null }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(BIG),
  fc.constant(DEEP),
  fc.constant(PROTO),
  fc.constant("\u0000"),
  fc.constant("\ud800"),
  fc.constant("a\udfffb\u0000"),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.array(fc.oneof(fc.string({ unit: "binary", maxLength: 10 }), fc.integer(), fc.constant(null), fc.constant({ toString: 1 })), { maxLength: 4 }),
  fc.anything({ maxDepth: 3 }),
);

function json(value: unknown): string {
  // undefined (a generated value, or inside fc.anything) has no JSON: send null.
  return (JSON.stringify(value) ?? "null")
    .replaceAll(JSON.stringify(DEEP), `${"[".repeat(50_000)}${"]".repeat(50_000)}`)
    .replaceAll(JSON.stringify(PROTO), '{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}');
}

/** Percent-encodes every byte, so any text (lone surrogates included) fits in a URL. */
function pct(text: string): string {
  return [...Buffer.from(text, "utf8")].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
}

const pathValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("%zz", "%", "%00", "..", "%2e%2e", "%2F", "%E0%A4%A", "%ED%A0%80", "ffffffffffffffff", "ANGjdJx", "Label_999", "r123"),
  fc.constant("a".repeat(5000)),
  fc.string({ unit: "binary", maxLength: 20 }).map(pct),
);

const authorization: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 6, arbitrary: fc.constant("VALID") },
  fc.constant(undefined),
  fc.constant("Bearer "),
  fc.constant(`Basic ${Buffer.from("%zz:x").toString("base64")}`),
  fc.constant(`Bearer ${"y".repeat(20_000)}`),
  fc.stringMatching(/^[\x20-\x7e]{0,60}$/),
);

function problems(family: Family, res: LightMyRequestResponse): string[] {
  const out: string[] = [];
  const text = res.body;
  if (res.statusCode >= 500) out.push(`status ${res.statusCode}`);
  if (/\n\s+at |node_modules|\.ts:\d+/.test(text)) out.push("stack frame in body");
  if (text.includes(SECRET)) out.push("client secret in body");
  if (res.statusCode < 400) return out;
  const type = String(res.headers["content-type"] ?? "");
  if (family === "consent" || family === "html404") {
    if (!type.startsWith("text/html")) out.push(`${family}: not HTML (${type})`);
    return out;
  }
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    return [...out, `${family}: not JSON: ${text.slice(0, 80)}`];
  }
  if (family === "oauth") {
    if (typeof body.error !== "string") out.push("oauth: error not a string");
    if (body.error_description !== undefined && typeof body.error_description !== "string") out.push("oauth: bad error_description");
  } else if (family === "admin") {
    if (typeof body.error?.code !== "string" || typeof body.error?.message !== "string") out.push("admin: not {error: {code, message}}");
  } else {
    const e = body.error;
    if (e?.code !== res.statusCode || typeof e?.message !== "string" || !Array.isArray(e?.errors) || e.errors.length === 0) {
      out.push(`gmail: not Google's envelope: ${text.slice(0, 120)}`);
    } else if (!e.errors.every((x: any) => typeof x.message === "string" && typeof x.reason === "string" && typeof x.domain === "string")) {
      out.push("gmail: errors[] entry without message/reason/domain");
    }
  }
  return out;
}

async function send(family: Family, opts: InjectOptions): Promise<LightMyRequestResponse> {
  const headers = { ...(opts.headers as Record<string, string>) };
  if (headers.authorization === "VALID") headers.authorization = bearer;
  if (headers.authorization === undefined) delete headers.authorization;
  const res = await app.inject({ ...opts, headers });
  const found = problems(family, res);
  if (found.length) throw new Error(`${opts.method} ${String(opts.url).slice(0, 200)} → ${res.statusCode}: ${found.join("; ")}\n${res.body.slice(0, 300)}`);
  if (String(opts.url).includes("/_admin/settings") && opts.method === "PUT") {
    // Keep later requests reaching the handlers: no latency, no quota exhaustion, no faults.
    await app.inject({ method: "PUT", url: "/_admin/settings", payload: { latencyMs: 0, quotaUnitsPerMinute: 1e9, faults: null, accessTokenTtlSeconds: 3599, rotateRefreshTokens: false } });
  }
  return res;
}

async function tokenFor(email: string): Promise<string> {
  const form = (o: Record<string, string>) => new URLSearchParams(o).toString();
  const formHeaders = { "content-type": "application/x-www-form-urlencoded" };
  const decision = await app.inject({
    method: "POST",
    url: "/o/oauth2/v2/auth/decision",
    headers: formHeaders,
    payload: form({ client_id: "fuzz-client", redirect_uri: REDIRECT, response_type: "code", scope: MAIL, email, decision: "allow", granted_scope: MAIL }),
  });
  const code = new URL(String(decision.headers.location)).searchParams.get("code")!;
  const token = await app.inject({
    method: "POST",
    url: "/token",
    headers: formHeaders,
    payload: form({ grant_type: "authorization_code", code, client_id: "fuzz-client", client_secret: SECRET, redirect_uri: REDIRECT }),
  });
  return `Bearer ${token.json().access_token}`;
}

beforeAll(async () => {
  // Every log line is kept, to check that no secret and no token reaches the log.
  const stream = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  app = Fastify({ frameworkErrors, logger: { level: "info", stream } });
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) if (method !== "HEAD") registered.push(`${method} ${route.url}`);
  });
  await app.register(emulatorPlugin, { now: () => Date.UTC(2026, 5, 15, 12) });
  await app.ready();
  await app.inject({ method: "POST", url: "/_admin/clients", payload: { clientId: "fuzz-client", clientSecret: SECRET, redirectUris: [REDIRECT] } });
  await app.inject({ method: "POST", url: "/_admin/users", payload: { email: ME, generate: { count: 5, attachments: true } } });
  await app.inject({ method: "POST", url: "/_admin/users", payload: { email: OTHER, generate: { count: 5, attachments: true } } });
  await app.inject({ method: "PUT", url: "/_admin/settings", payload: { quotaUnitsPerMinute: 1e9 } });
  bearer = await tokenFor(ME);
  otherBefore = (await app.inject({ method: "GET", url: `/_admin/users/${OTHER}` })).body;
});

afterAll(async () => {
  // Nothing was logged at error level (no 500), and no secret or token was logged at all.
  expect(logLines.length).toBeGreaterThan(1000);
  expect(logLines.filter((l) => JSON.parse(l).level >= 50)).toEqual([]);
  expect(logLines.filter((l) => l.includes(SECRET) || l.includes(bearer.slice(7)))).toEqual([]);
  // Nothing any request did as ME, or as nobody, reached another user's mailbox.
  expect((await app.inject({ method: "GET", url: `/_admin/users/${OTHER}` })).body).toBe(otherBefore);
  await app.close();
});

describe("emulator fuzz", () => {
  it("the route table matches the routes the emulator registers", () => {
    expect(registered.length).toBeGreaterThan(30);
    // `/upload/…` twins are fuzzed through their route's `upload` flag; a POST method's twin
    // also takes the PUTs of its resumable sessions.
    const twins = registered.filter((r) => r.includes(" /upload/"));
    const sessionPuts = UPLOAD_ROUTES.filter((k) => k.startsWith("POST ")).map((k) => k.replace(/^POST /, "PUT "));
    expect(twins.map((r) => r.replace(" /upload/", " /")).sort()).toEqual([...UPLOAD_ROUTES, ...sessionPuts].sort());
    // No stale entries: every listed route exists (unlisted ones are fuzzed with common fields).
    expect(Object.keys(ROUTES).filter((r) => !registered.includes(r))).toEqual([]);
  });

  it("every route × wrong-typed fields, bad paths, queries and credentials: no 5xx, the family's error body", async () => {
    const direct = registered.filter((r) => !r.includes(" /upload/"));
    const routeKey = fc.constantFrom(...direct);
    const request = routeKey.chain((key) => {
      const [method, path] = key.split(" ");
      const params = [...path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]);
      const fields = routeInfo(key).fields;
      return fc.record({
        key: fc.constant(key),
        method: fc.constant(method),
        params: fc.tuple(...params.map((p) => (p === "userId" ? fc.oneof({ weight: 4, arbitrary: fc.constant("me") }, pathValue) : pathValue))),
        body: fields.length ? fc.dictionary(fc.constantFrom(...fields, "__proto__", "unknownField"), nasty, { maxKeys: 4 }) : fc.constant(undefined),
        encoding: fc.constantFrom("json", "json", "form", "garbage", "none"),
        query: fc.array(fc.tuple(fc.constantFrom(...QUERY_NAMES), fc.oneof(fc.string({ unit: "binary", maxLength: 30 }).map(pct), fc.constantFrom("%zz", "%ED%A0%80", "-1", "1e400", "", "x".repeat(3000), "resumable", "multipart", "media"))), { maxLength: 3 }),
        upload: fc.boolean(),
        garbage: fc.uint8Array({ maxLength: 64 }),
        authorization,
      });
    });
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        let i = 0;
        let url = r.key.split(" ")[1].replace(/:([A-Za-z]+)/g, () => String(r.params[i++]));
        if (r.upload && UPLOAD_ROUTES.includes(r.key)) url = `/upload${url}`;
        if (r.query.length) url += `?${r.query.map(([k, v]) => `${k}=${v}`).join("&")}`;
        const headers: Record<string, string | undefined> = { authorization: r.authorization };
        let payload: string | Buffer | undefined;
        if (r.body !== undefined && r.encoding === "json") {
          headers["content-type"] = "application/json";
          payload = json(r.body);
        } else if (r.body !== undefined && r.encoding === "form") {
          headers["content-type"] = "application/x-www-form-urlencoded";
          payload = Object.entries(r.body).map(([k, v]) => `${pct(k)}=${pct(typeof v === "string" ? v : json(v))}`).join("&");
        } else if (r.encoding === "garbage") {
          headers["content-type"] = "multipart/related; boundary=zz";
          payload = Buffer.concat([Buffer.from("--zz\r\nContent-Type: application/json\r\n\r\n{]\r\n--zz\r\n"), Buffer.from(r.garbage)]);
        }
        const res = await send(routeInfo(r.key).family, { method: r.method as InjectOptions["method"], url, headers: headers as Record<string, string>, payload });
        seen.set(r.key, [...(seen.get(r.key) ?? []), res.statusCode]);
      }),
      { seed: SEED, numRuns: 500 },
    );
    // Most routes were reached, and Gmail calls got past the bearer check into body validation.
    expect(seen.size).toBeGreaterThan(direct.length * 0.9);
    // (A path parameter past the router's length limit is answered 414 before any check: not counted.)
    const gmail = [...seen].filter(([k]) => k.includes("/gmail/v1/")).flatMap(([, s]) => s).filter((s) => s !== 414);
    expect(gmail.filter((s) => s === 400).length).toBeGreaterThan(gmail.length / 4);
    expect(gmail.filter((s) => s < 300).length).toBeGreaterThan(0);
  }, 120_000);

  it("search queries of any shape: 200 or Google's 400", async () => {
    const piece = fc.constantFrom("(", ")", "{", "}", "-", " OR ", " ", '"', "from:", "subject:(", "older_than:", "newer_than:6m", "after:2026/13/45", "has:attachment", "label:", "in:anywhere", "|", "AND", ":", "x", "\u0000", "\ud800", "é");
    const q = fc.oneof(
      fc.array(piece, { maxLength: 400 }).map((p) => pct(p.join(""))),
      fc.constantFrom(pct("(".repeat(5000)), pct("-".repeat(5000)), pct("{".repeat(5000)), `${"(".repeat(100)}%zz`, "%ED%A0%80"),
    );
    await fc.assert(
      fc.asyncProperty(q, async (text) => {
        const res = await send("gmail", { method: "GET", url: `/gmail/v1/users/me/messages?q=${text}`, headers: { authorization: "VALID" } });
        expect([200, 400]).toContain(res.statusCode);
      }),
      { seed: SEED, numRuns: 200 },
    );
  }, 120_000);

  it("MIME messages of any shape: stored and readable, or Google's 400", async () => {
    const header = fc.oneof(
      fc.constant(`X-Long: ${"a".repeat(1_100_000)}`),
      fc.constantFrom("Subject: =?utf-8?B?////?=", "Subject: =?x-unknown?Q?=ZZ?=", "Content-Transfer-Encoding: base64", "Content-Transfer-Encoding: quoted-printable", "Content-Type: text/plain; charset=x-nope", "Content-Disposition: attachment", "Content-Type: application/octet-stream; name=\"a\u0000b\""),
      fc.string({ unit: "binary", maxLength: 60 }).map((s) => `X-Fuzz: ${s.replace(/[\r\n]/g, " ")}`),
    );
    const leaf = fc.tuple(fc.array(header, { maxLength: 3 }), fc.oneof(fc.string({ unit: "binary", maxLength: 200 }), fc.constant("=ZZ=\r\n%%%"), fc.constant("a".repeat(20_000))));
    const message = fc.tuple(fc.integer({ min: 0, max: 140 }), leaf, fc.boolean(), fc.boolean()).map(([depth, [headers, body], closeAll, crlf]) => {
      let mime = `${headers.join("\r\n")}${headers.length ? "\r\n" : ""}\r\n${body}\r\n`;
      for (let i = 0; i < depth; i++) mime = `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n${mime}\r\n${closeAll ? `--b${i}--\r\n` : ""}`;
      const text = `From: fuzz@x.test\r\nSubject: m\r\nMIME-Version: 1.0\r\n${mime}`;
      return Buffer.from(crlf ? text : text.replace(/\r\n/g, "\n"), "utf8").toString("base64url");
    });
    await fc.assert(
      fc.asyncProperty(message, fc.constantFrom("messages", "messages/import", "drafts"), async (raw, where) => {
        const payload = where === "drafts" ? { message: { raw } } : { raw };
        const res = await send("gmail", { method: "POST", url: `/gmail/v1/users/me/${where}`, headers: { authorization: "VALID" }, payload });
        expect([200, 400]).toContain(res.statusCode);
        if (res.statusCode === 200) {
          const id = where === "drafts" ? res.json().message.id : res.json().id;
          for (const format of ["full", "raw", "metadata"]) {
            expect((await send("gmail", { method: "GET", url: `/gmail/v1/users/me/messages/${id}?format=${format}`, headers: { authorization: "VALID" } })).statusCode).toBe(200);
          }
        }
      }),
      { seed: SEED, numRuns: 120 },
    );
  }, 120_000);

  it("batch bodies of any shape: every part answered below 500, or Google's 400 for the whole", async () => {
    const inner = fc.tuple(
      fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "BREW", ""),
      fc.oneof(
        fc.constantFrom(...Object.keys(ROUTES).map((k) => k.split(" ")[1])).chain((p) => pathValue.map((v) => p.replace(/:[A-Za-z]+/g, (m) => (m === ":userId" ? "me" : v)))),
        fc.constantFrom("http://[::1", "//evil/x", "/gmail/v1/users/%zz/profile", "/upload/gmail/v1/users/me/messages/send", "", "*"),
      ),
      fc.option(nasty.map((v) => json(v)), { nil: undefined }),
    ).map(([method, target, body]) => `${method} ${target} HTTP/1.1\r\n${body === undefined ? "" : `Content-Type: application/json\r\n\r\n${body.slice(0, 200_000)}`}`);
    const batch = fc.tuple(fc.array(inner, { maxLength: 6 }), fc.constantFrom("ok", "no-close", "bad-boundary", "bytes", "many"), fc.uint8Array({ maxLength: 256 })).map(([parts, shape, bytes]) => {
      if (shape === "bytes") return Buffer.from(bytes).toString("latin1");
      if (shape === "many") parts = Array.from({ length: 101 }, () => "GET /gmail/v1/users/me/profile");
      const b = shape === "bad-boundary" ? "YY" : "XX";
      return parts.map((p, i) => `--${b}\r\nContent-Type: application/http\r\nContent-ID: <${i}\r\n\r\n${p}\r\n`).join("") + (shape === "no-close" ? "" : `--${b}--\r\n`);
    });
    await fc.assert(
      fc.asyncProperty(batch, fc.constantFrom("multipart/mixed; boundary=XX", "multipart/mixed", "text/plain", 'multipart/mixed; boundary="'), async (body, type) => {
        const res = await send("gmail", { method: "POST", url: "/batch/gmail/v1", headers: { authorization: "VALID", "content-type": type }, payload: Buffer.from(body, "latin1") });
        expect([200, 400]).toContain(res.statusCode);
        for (const m of res.body.matchAll(/^HTTP\/1\.1 (\d+)/gm)) expect(Number(m[1])).toBeLessThan(500);
      }),
      { seed: SEED, numRuns: 150 },
    );
  }, 120_000);

  it("resumable sessions under chunks and Content-Range headers of any shape: 308, 200 or Google's 4xx", async () => {
    const message = Buffer.from("From: fuzz@x.test\r\nSubject: resumable\r\n\r\nbody\r\n");
    const range = fc.oneof(
      fc.constant(undefined),
      fc.tuple(fc.nat({ max: 80 }), fc.nat({ max: 80 }), fc.oneof(fc.nat({ max: 80 }).map(String), fc.constant("*"))).map(([a, b, t]) => `bytes ${a}-${b}/${t}`),
      fc.constantFrom(`bytes */${message.length}`, "bytes */*", "bytes -1-2/3", "bytes 0-99999999999999999999/1", "items 0-1/2", "", "bytes 0-0/0"),
      fc.stringMatching(/^[\x20-\x7e]{0,30}$/),
    );
    const step = fc.record({ range, from: fc.nat({ max: message.length }), to: fc.nat({ max: message.length + 5 }), type: fc.constantFrom("message/rfc822", "application/json", "application/x-www-form-urlencoded") });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("messages/send", "messages", "drafts"), fc.option(fc.nat({ max: 200 }), { nil: undefined }), fc.array(step, { minLength: 1, maxLength: 5 }), async (path, declared, steps) => {
        const headers: Record<string, string> = { authorization: "VALID", "content-type": "application/json" };
        if (declared !== undefined) headers["x-upload-content-length"] = String(declared);
        const opened = await send("gmail", { method: "POST", url: `/upload/gmail/v1/users/me/${path}?uploadType=resumable`, headers, payload: path === "drafts" ? { message: {} } : {} });
        if (opened.statusCode !== 200) return;
        const session = new URL(String(opened.headers.location));
        for (const s of steps) {
          const h: Record<string, string> = { "content-type": s.type };
          if (s.range !== undefined) h["content-range"] = s.range;
          const res = await send("gmail", { method: "PUT", url: `${session.pathname}${session.search}`, headers: h, payload: message.subarray(s.from, Math.max(s.from, s.to)) });
          expect([200, 308, 400, 404, 413]).toContain(res.statusCode);
        }
      }),
      { seed: SEED, numRuns: 150 },
    );
  }, 120_000);

  it("client credentials of any shape on /token: Google's OAuth error, never 5xx", async () => {
    const credentials = fc.oneof(
      fc.string({ unit: "binary", maxLength: 40 }).map((s) => `Basic ${Buffer.from(s).toString("base64")}`),
      fc.constantFrom(`Basic ${Buffer.from("%zz:x").toString("base64")}`, `Basic ${Buffer.from("fuzz-client:%E0%A4%A").toString("base64")}`, "Basic", "Basic !!!!", "Basic %%%"),
    );
    await fc.assert(
      fc.asyncProperty(credentials, fc.constantFrom("authorization_code", "refresh_token"), async (header, grant) => {
        const res = await send("oauth", {
          method: "POST",
          url: "/token",
          headers: { authorization: header, "content-type": "application/x-www-form-urlencoded" },
          payload: `grant_type=${grant}&code=4/x&refresh_token=1//x&redirect_uri=${encodeURIComponent(REDIRECT)}`,
        });
        expect([400, 401]).toContain(res.statusCode);
      }),
      { seed: SEED, numRuns: 150 },
    );
  }, 120_000);
});
