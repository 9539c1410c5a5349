/**
 * Resumable uploads as GOOGLE.md describes them: a session opened with the resource, bytes sent
 * whole or in chunks with Content-Range, 308 Resume Incomplete with Range until the last byte,
 * a status query to resume after a dropped connection.
 */
import MailComposer from "nodemailer/lib/mail-composer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorize, harness, SCOPES, type Harness } from "./helpers.ts";

let h: Harness;
let bearer: string;
const ME = "resumable@x.test";

beforeAll(async () => {
  h = await harness();
  await h.admin("POST", "/_admin/users", { email: ME });
  bearer = `Bearer ${(await authorize(h, { email: ME, scopes: [SCOPES.mail] })).tokens.access_token}`;
});
afterAll(() => h.close());

function message(subject: string, size = 0): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    new MailComposer({ from: ME, to: ME, subject, text: "x".repeat(size) }).compile().build((e, m) => (e ? reject(e) : resolve(m))),
  );
}

async function open(path: string, opts: { metadata?: unknown; length?: number; authorization?: string; method?: string } = {}) {
  const headers: Record<string, string> = { "content-type": "application/json", "x-upload-content-type": "message/rfc822" };
  if (opts.authorization !== "") headers.authorization = opts.authorization ?? bearer;
  if (opts.length !== undefined) headers["x-upload-content-length"] = String(opts.length);
  return fetch(`${h.base}/upload/gmail/v1/users/me/${path}?uploadType=resumable`, { method: opts.method ?? "POST", headers, body: JSON.stringify(opts.metadata ?? {}) });
}

async function put(session: string, bytes: Buffer, range?: string) {
  const headers: Record<string, string> = { "content-type": "message/rfc822" };
  if (range) headers["content-range"] = range;
  const res = await fetch(session, { method: "PUT", headers, body: new Uint8Array(bytes) });
  const text = await res.text();
  return { status: res.status, range: res.headers.get("range"), json: text ? JSON.parse(text) : undefined };
}

async function rawOf(id: string): Promise<Buffer> {
  const res = await fetch(`${h.base}/gmail/v1/users/me/messages/${id}?format=raw`, { headers: { authorization: bearer } });
  return Buffer.from((await res.json()).raw, "base64url");
}

describe("resumable uploads", () => {
  it("opens a session with Location and sends the whole message in one PUT", async () => {
    const bytes = await message("whole");
    const start = await open("messages/send", { length: bytes.length });
    expect(start.status).toBe(200);
    const session = start.headers.get("location")!;
    expect(new URL(session).searchParams.get("upload_id")).toBeTruthy();
    expect(new URL(session).searchParams.get("uploadType")).toBe("resumable");
    const done = await put(session, bytes);
    expect(done.status).toBe(200);
    expect(done.json.labelIds).toContain("SENT");
    expect((await rawOf(done.json.id)).equals(bytes)).toBe(true);
  });

  it("takes chunks with Content-Range, answers 308 with Range, and resumes after a status query", async () => {
    const bytes = await message("chunked", 300_000);
    const total = bytes.length;
    const session = (await open("messages/import", { metadata: { labelIds: ["INBOX", "STARRED"] } })).headers.get("location")!;
    const first = await put(session, bytes.subarray(0, 100_000), `bytes 0-99999/*`);
    expect(first).toEqual({ status: 308, range: "bytes=0-99999", json: undefined });
    // The connection drops mid-chunk: the client asks where the upload stands and goes on from there.
    const status = await put(session, Buffer.alloc(0), `bytes */${total}`);
    expect(status).toMatchObject({ status: 308, range: "bytes=0-99999" });
    const wrongOffset = await put(session, bytes.subarray(150_000), `bytes 150000-${total - 1}/${total}`);
    expect(wrongOffset.status).toBe(400);
    expect(wrongOffset.json.error.code).toBe(400);
    const second = await put(session, bytes.subarray(100_000, 200_000), `bytes 100000-199999/${total}`);
    expect(second).toMatchObject({ status: 308, range: "bytes=0-199999" });
    const last = await put(session, bytes.subarray(200_000), `bytes 200000-${total - 1}/${total}`);
    expect(last.status).toBe(200);
    expect(last.json.labelIds.sort()).toEqual(["INBOX", "STARRED"]);
    expect((await rawOf(last.json.id)).equals(bytes)).toBe(true);
    // The session is finished: a status query (a client whose connection dropped before it read
    // the answer) gets the same message back, and nothing is imported twice.
    const again = await put(session, Buffer.alloc(0), `bytes */${total}`);
    expect(again).toMatchObject({ status: 200, json: { id: last.json.id } });
    const listed = await fetch(`${h.base}/gmail/v1/users/me/messages?q=subject:chunked`, { headers: { authorization: bearer } });
    expect((await listed.json()).messages).toHaveLength(1);
  });

  it("keeps no refused last chunk: after a 5xx the status query points before it and resending it finishes", async () => {
    const bytes = await message("refused last", 200_000);
    const total = bytes.length;
    const session = (await open("messages/import", { metadata: { labelIds: ["INBOX"] }, length: total })).headers.get("location")!;
    expect(await put(session, bytes.subarray(0, 100_000), `bytes 0-99999/${total}`)).toMatchObject({ status: 308, range: "bytes=0-99999" });
    await h.admin("PUT", "/_admin/settings", { faults: { status: 503, rate: 1 } });
    try {
      expect((await put(session, bytes.subarray(100_000), `bytes 100000-${total - 1}/${total}`)).status).toBe(503);
    } finally {
      await h.admin("PUT", "/_admin/settings", { faults: null });
    }
    expect(await put(session, Buffer.alloc(0), `bytes */${total}`)).toMatchObject({ status: 308, range: "bytes=0-99999" });
    const done = await put(session, bytes.subarray(100_000), `bytes 100000-${total - 1}/${total}`);
    expect(done.status).toBe(200);
    expect((await rawOf(done.json.id)).equals(bytes)).toBe(true);
  });

  it("updates a draft through a session opened with PUT", async () => {
    const created = await fetch(`${h.base}/gmail/v1/users/me/drafts`, {
      method: "POST",
      headers: { authorization: bearer, "content-type": "application/json" },
      body: JSON.stringify({ message: { raw: (await message("draft v1")).toString("base64url") } }),
    });
    const draft = await created.json();
    const v2 = await message("draft v2");
    const session = (await open(`drafts/${draft.id}`, { method: "PUT", metadata: { id: draft.id } })).headers.get("location")!;
    const done = await put(session, v2);
    expect(done.status).toBe(200);
    expect(done.json.id).toBe(draft.id);
    expect((await rawOf(done.json.message.id)).equals(v2)).toBe(true);
  });

  it("checks the caller and the size when the session opens, and refuses unknown sessions", async () => {
    expect((await open("messages/send", { authorization: "" })).status).toBe(401);
    const { tokens } = await authorize(h, { email: ME, scopes: [SCOPES.readonly] });
    expect((await open("messages/send", { authorization: `Bearer ${tokens.access_token}` })).status).toBe(403);
    const tooBig = await open("messages/send", { length: 35 * 1024 * 1024 + 1 });
    expect(tooBig.status).toBe(413);
    expect((await tooBig.json()).error.errors[0].reason).toBe("uploadTooLarge");
    expect((await open("messages/send", { metadata: { threadId: 1 } })).status).toBe(400);
    const unknown = await put(`${h.base}/upload/gmail/v1/users/me/messages/send?uploadType=resumable&upload_id=nope`, Buffer.from("x"));
    expect(unknown.status).toBe(404);
  });
});
