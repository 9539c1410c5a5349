/**
 * Inputs that once made the emulator answer 500 (issue 17): each now gets the 400 (or 401)
 * Google gives, in the body of the endpoint family that received it.
 */
import MailComposer from "nodemailer/lib/mail-composer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorize, harness, REDIRECT, SCOPES, type Harness } from "./helpers.ts";

let h: Harness;
let bearer: string;
const ME = "bad-input@x.test";

beforeAll(async () => {
  h = await harness();
  await h.admin("POST", "/_admin/users", { email: ME, generate: { count: 3 } });
  const { tokens } = await authorize(h, { email: ME, scopes: [SCOPES.mail] });
  bearer = `Bearer ${tokens.access_token}`;
});
afterAll(() => h.close());

async function call(method: string, path: string, opts: { json?: unknown; body?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.json !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${h.base}${path}`, {
    method,
    headers,
    body: opts.json !== undefined ? JSON.stringify(opts.json) : opts.body,
    redirect: "manual",
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, type: res.headers.get("content-type") ?? "" };
}

const gmail = (path: string, json: unknown) => call("POST", `/gmail/v1/users/me/${path}`, { json, headers: { authorization: bearer } });

/** Google's Gmail error envelope with this status; returns the message. */
function expectApiError(res: { status: number; json: any }, status: number): string {
  expect(res.status).toBe(status);
  expect(res.json.error.code).toBe(status);
  expect(res.json.error.errors[0].message).toBe(res.json.error.message);
  expect(typeof res.json.error.errors[0].reason).toBe("string");
  expect(res.json.error.status).toEqual(status === 400 ? "INVALID_ARGUMENT" : expect.any(String));
  return res.json.error.message;
}

function composed(opts: { raw?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) =>
    new MailComposer({ from: ME, to: ME, subject: "s", text: opts.raw ?? "x" }).compile().build((e, m) => (e ? reject(e) : resolve(m.toString("base64url")))),
  );
}

/** A part of a batch body, and the status of each inner answer. */
async function batch(...inner: string[]): Promise<{ status: number; parts: Array<{ status: number; json: any }> }> {
  const body = inner.map((r, i) => `--XX\r\nContent-Type: application/http\r\nContent-ID: <p${i}>\r\n\r\n${r}\r\n`).join("") + "--XX--\r\n";
  const res = await call("POST", "/batch/gmail/v1", { body, headers: { "content-type": "multipart/mixed; boundary=XX", authorization: bearer } });
  const parts = [...res.text.matchAll(/HTTP\/1\.1 (\d+)[^\r]*\r\n(?:[^\r]+\r\n)*\r\n(.*)\r\n/g)].map((m) => ({ status: Number(m[1]), json: m[2] ? JSON.parse(m[2]) : undefined }));
  return { status: res.status, parts };
}

describe("OAuth endpoints check the type of every field", () => {
  it("/token: a non-text grant_type is invalid_request", async () => {
    const res = await call("POST", "/token", { json: { grant_type: { toString: 1 } } });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: "invalid_request", error_description: "Invalid value at 'grant_type' (TYPE_STRING), {…}" });
  });

  it("/revoke: a non-text token is invalid_request", async () => {
    const res = await call("POST", "/revoke", { json: { token: [{ a: 1 }] } });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe("invalid_request");
  });

  it("the consent decision shows Google's error page for a non-text field", async () => {
    const res = await call("POST", "/o/oauth2/v2/auth/decision", { json: { client_id: { toString: 1 }, decision: "allow" } });
    expect(res.status).toBe(400);
    expect(res.type).toMatch(/^text\/html/);
    expect(res.text).toContain("invalid_request");
  });

  it("Basic credentials with a bad percent-escape are an unknown client, 401", async () => {
    const res = await call("POST", "/token", {
      body: "grant_type=refresh_token&refresh_token=x",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from("%zz:x").toString("base64")}` },
    });
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ error: "invalid_client", error_description: "Unauthorized" });
  });

  it("a form with a __proto__ field is read as fields, not as a prototype", async () => {
    const res = await call("POST", "/token", {
      body: "__proto__=a&__proto__=b&grant_type=nope",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe("unsupported_grant_type");
  });
});

describe("Gmail bodies are checked against Google's resources", () => {
  it("batchModify and batchDelete refuse ids that are not strings", async () => {
    expect(expectApiError(await gmail("messages/batchModify", { ids: [{ toString: 1 }], addLabelIds: ["STARRED"] }), 400)).toBe(
      "Invalid value at 'ids[0]' (TYPE_STRING), {…}",
    );
    expect(expectApiError(await gmail("messages/batchDelete", { ids: [1] }), 400)).toBe("Invalid value at 'ids[0]' (TYPE_STRING), 1");
    expect(expectApiError(await gmail("messages/batchModify", { ids: "x" }), 400)).toBe("Invalid value at 'ids' (TYPE_STRING), \"x\"");
  });

  it("drafts.send refuses a non-text draft id", async () => {
    expect(expectApiError(await gmail("drafts/send", { id: { toString: 1 } }), 400)).toBe("Invalid value at 'id' (TYPE_STRING), {…}");
  });

  it("an unknown field (even __proto__) and a non-object body are refused as Google's JSON mapping does", async () => {
    const proto = await call("POST", "/gmail/v1/users/me/messages/send", {
      body: `{"__proto__": {"raw": "x"}, "raw": "${await composed()}"}`,
      headers: { "content-type": "application/json", authorization: bearer },
    });
    expect(expectApiError(proto, 400)).toBe('Invalid JSON payload received. Unknown name "__proto__": Cannot find field.');
    expect(expectApiError(await gmail("messages/batchModify", [1]), 400)).toBe(
      'Invalid JSON payload received. Unknown name "": Root element must be a message.',
    );
  });

  it("raw must be base64, and label fields must be their enums", async () => {
    expect(expectApiError(await gmail("messages/send", { raw: "not base64!" }), 400)).toMatch(/^Invalid value at 'raw' \(TYPE_BYTES\), Base64 decoding failed/);
    expect(expectApiError(await gmail("labels", { name: "L", messageListVisibility: { toString: 1 } }), 400)).toBe(
      "Invalid value at 'message_list_visibility' (TYPE_ENUM), {…}",
    );
  });

  it("the metadata part of a multipart upload is checked like a JSON body", async () => {
    const message = Buffer.from(await composed(), "base64url").toString("latin1");
    const upload = (metadata: string) =>
      call("POST", "/upload/gmail/v1/users/me/messages/send?uploadType=multipart", {
        body: `--mm\r\nContent-Type: application/json\r\n\r\n${metadata}\r\n--mm\r\nContent-Type: message/rfc822\r\n\r\n${message}\r\n--mm--\r\n`,
        headers: { "content-type": "multipart/related; boundary=mm", authorization: bearer },
      });
    expect(expectApiError(await upload('{"threadId": {"toString": 1}}'), 400)).toBe("Invalid value at 'thread_id' (TYPE_STRING), {…}");
    expect(expectApiError(await upload('{"labelIds": [null]}'), 400)).toBe("Invalid value at 'label_ids[0]' (TYPE_STRING), null");
    expect((await upload("{}")).status).toBe(200);
  });

  it("the same checks apply inside batch parts, and a bad path or URL fails only its part", async () => {
    const res = await batch(
      'POST /gmail/v1/users/me/messages/batchModify\r\nContent-Type: application/json\r\n\r\n{"ids":[{"toString":1}]}',
      "GET /gmail/v1/users/%zz/profile",
      "GET http://[::1",
      "GET /gmail/v1/users/me/profile",
    );
    expect(res.status).toBe(200);
    expect(res.parts.map((p) => p.status)).toEqual([400, 400, 400, 200]);
    expect(res.parts[0].json.error.message).toBe("Invalid value at 'ids[0]' (TYPE_STRING), {…}");
    expect(res.parts[3].json.emailAddress).toBe(ME);
  });

  it("a bad percent-escape in a direct path is a 400 in the family's body", async () => {
    expectApiError(await call("GET", "/gmail/v1/users/%zz/profile", { headers: { authorization: bearer } }), 400);
    const admin = await call("GET", "/_admin/users/%zz");
    expect(admin.status).toBe(400);
    expect(admin.json).toEqual({ error: { code: "invalid_request", message: expect.any(String) } });
  });
});

describe("depth and size limits", () => {
  it("a q of 5,000 '(' is an invalid search query, and 60 levels still search", async () => {
    const deep = await call("GET", `/gmail/v1/users/me/messages?q=${"(".repeat(5000)}`, { headers: { authorization: bearer } });
    expect(expectApiError(deep, 400)).toMatch(/^Invalid search query/);
    const negations = await call("GET", `/gmail/v1/users/me/messages?q=${"-".repeat(5000)}x`, { headers: { authorization: bearer } });
    expectApiError(negations, 400);
    const fine = await call("GET", `/gmail/v1/users/me/messages?q=${encodeURIComponent(`${"(".repeat(60)}hello${")".repeat(60)}`)}`, {
      headers: { authorization: bearer },
    });
    expect(fine.status).toBe(200);
  });

  function nested(levels: number): string {
    let mime = "Content-Type: text/plain\r\n\r\nleaf\r\n";
    for (let i = 0; i < levels; i++) mime = `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n${mime}\r\n--b${i}--\r\n`;
    return Buffer.from(`From: a@x.test\r\nSubject: nested\r\nMIME-Version: 1.0\r\n${mime}`).toString("base64url");
  }

  it("multiparts nested 2,000 or 150 levels deep are refused; 20 levels are stored", async () => {
    expect(expectApiError(await gmail("messages", { raw: nested(2000) }), 400)).toMatch(/^Invalid message/);
    expect(expectApiError(await gmail("messages", { raw: nested(150) }), 400)).toBe("Invalid message: MIME parts nested more than 100 levels deep.");
    const ok = await gmail("messages", { raw: nested(20) });
    expect(ok.status).toBe(200);
    const read = await call("GET", `/gmail/v1/users/me/messages/${ok.json.id}`, { headers: { authorization: bearer } });
    expect(read.status).toBe(200);
  });

  it("a 10 MB message on one header line is refused; a 10 MB one-line body is stored", async () => {
    const line = "a".repeat(10 * 1024 * 1024);
    const header = await gmail("messages", { raw: Buffer.from(`Subject: ${line}`).toString("base64url") });
    expect(expectApiError(header, 400)).toBe("Invalid message: Max header size for a MIME node exceeded.");
    const body = await gmail("messages", { raw: Buffer.from(`From: a@x.test\r\nSubject: long\r\n\r\n${line}`).toString("base64url") });
    expect(body.status).toBe(200);
  }, 60_000);
});

describe("admin routes", () => {
  it("POST /_admin/users refuses messages: [null] and other wrong types", async () => {
    const res = await call("POST", "/_admin/users", { json: { email: "n@x.test", messages: [null] } });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: { code: "invalid_request", message: "Invalid value at 'messages[0]' (TYPE_MESSAGE), null" } });
    const labels = await call("POST", "/_admin/users", { json: { email: "n@x.test", messages: [{ raw: await composed(), labelIds: [{ toString: 1 }] }] } });
    expect(labels.status).toBe(400);
    expect((await h.admin("GET", "/_admin/users/n@x.test")).status).toBe(404);
  });

  it("a client whose redirect URI is not a URL, or has a fragment, is refused at registration", async () => {
    for (const uri of ["not a url", "http://[::1", "https://app.example/cb#x"]) {
      const res = await h.admin("POST", "/_admin/clients", { clientId: "c", clientSecret: "s", redirectUris: [uri] });
      expect(res.status, uri).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
    }
    expect((await h.admin("POST", "/_admin/clients", { clientId: "c", clientSecret: "s", redirectUris: [REDIRECT] })).status).toBe(201);
  });
});
