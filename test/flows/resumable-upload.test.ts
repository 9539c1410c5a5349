/**
 * The resumable upload glue through the service's Gmail choke point, against the emulator: every
 * destination action that uploads bytes (import, insert, send, draft) takes the resumable path
 * above the threshold, in several chunks, byte-equal; a 5xx on the last chunk is resumed by a
 * status query; a lost answer to the last chunk is learnt from the status query, not uploaded again.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GmailCaller } from "../../connector/gmail-export.ts";
import { copyRaw, deliverComposed } from "../../connector/gmail-import.ts";
import { CHUNK_GRANULE } from "../../connector/resumable-upload.ts";
import { flowWorld, rawMessage, type FlowWorld } from "./support.ts";

let w: FlowWorld;
let proxy: Awaited<ReturnType<typeof startFront>>;
let mailbox: { email: string; connectionId: string };
let call: GmailCaller;
const upload = { resumableAbove: 0, resumable: { chunkSize: CHUNK_GRANULE, backoffMs: () => 1 } };

beforeAll(async () => {
  proxy = await startFront(() => w.google.env.GMAIL_API_URL);
  w = await flowWorld({ env: { GMAIL_API_URL: proxy.url } });
  mailbox = await w.mailbox();
  const accountId = await w.accountId();
  call = (method, fn) => w.t.app.gmail.run(accountId, mailbox.connectionId, method, fn);
}, 60_000);
afterAll(async () => {
  await w?.close();
  await proxy?.close();
});

/** A message of a bit over three chunks. */
function message(subject: string): Buffer {
  return Buffer.from(rawMessage({ to: mailbox.email, subject, text: randomBytes(3 * CHUNK_GRANULE).toString("base64").replace(/.{76}/g, "$&\r\n") }));
}

async function rawOf(id: string): Promise<Buffer> {
  const res = await call("messages.get", (g, options) => g.users.messages.get({ userId: "me", id, format: "raw" }, options));
  return Buffer.from(res.data.raw!, "base64url");
}

describe("resumable uploads from the destination actions", () => {
  it("import, insert, send and draft each arrive byte-equal through chunked sessions", async () => {
    const before = (await w.google.admin("GET", "/stats")).users[mailbox.email]?.requests ?? 0;
    const imported = message("resumable import");
    const id1 = await copyRaw(call, "import", imported, ["STARRED"], upload);
    expect((await rawOf(id1)).equals(imported)).toBe(true);
    const inserted = message("resumable insert");
    const id2 = await copyRaw(call, "insert", inserted, undefined, upload);
    expect((await rawOf(id2)).equals(inserted)).toBe(true);
    const sent = message("resumable send");
    const id3 = await deliverComposed(call, "send", sent, undefined, upload);
    expect((await rawOf(id3)).equals(sent)).toBe(true);
    const drafted = message("resumable draft");
    const id4 = await deliverComposed(call, "draft", drafted, undefined, upload);
    expect((await rawOf(id4)).equals(drafted)).toBe(true);

    const box = await w.user(mailbox.email);
    const byId = new Map(box.messages.map((m) => [m.id, m]));
    expect(byId.get(id1)!.labelIds).toContain("STARRED");
    expect(byId.get(id3)!.labelIds).toContain("SENT");
    expect(byId.get(id4)!.labelIds).toContain("DRAFT");
    expect(box.messages.filter((m) => m.subject.startsWith("resumable "))).toHaveLength(4);
    // Counted by Google as four method calls plus the four reads, whatever the chunks.
    expect((await w.google.admin("GET", "/stats")).users[mailbox.email].requests - before).toBe(8);
  });

  it("resumes after a 5xx on the last chunk: a status query, then the chunk again; imported once", async () => {
    const raw = message("resumable after 503");
    proxy.failNextLastChunk = true;
    const id = await copyRaw(call, "import", raw, undefined, upload);
    expect(proxy.failed).toBe(1);
    expect(proxy.statusQueries).toBeGreaterThanOrEqual(1);
    expect((await rawOf(id)).equals(raw)).toBe(true);
    expect((await w.user(mailbox.email)).messages.filter((m) => m.subject === "resumable after 503")).toHaveLength(1);
  });

  it("sends nothing twice when the answer to the last chunk is lost: the status query returns the message", async () => {
    const raw = message("resumable answer lost");
    proxy.loseNextLastAnswer = true;
    const id = await copyRaw(call, "import", raw, undefined, upload);
    expect(proxy.lost).toBe(1);
    expect((await rawOf(id)).equals(raw)).toBe(true);
    expect((await w.user(mailbox.email)).messages.filter((m) => m.subject === "resumable answer lost")).toHaveLength(1);
  });
});

/**
 * An HTTP front for the emulator's Gmail API that can answer 503 to the next last chunk of an
 * upload without passing it on, or pass it on and then drop the connection before the answer.
 */
async function startFront(target: () => string) {
  const front = { failNextLastChunk: false, loseNextLastAnswer: false, failed: 0, lost: 0, statusQueries: 0, url: "", close: async () => {} };
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const range = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+)$/.exec(String(req.headers["content-range"] ?? ""));
    if (range && range[1] === undefined) front.statusQueries += 1;
    const last = range && range[2] !== undefined && Number(range[2]) === Number(range[3]) - 1;
    if (last && front.failNextLastChunk) {
      front.failNextLastChunk = false;
      front.failed += 1;
      res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: 503, message: "The service is currently unavailable.", status: "UNAVAILABLE" } }));
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && !["host", "connection", "content-length", "transfer-encoding"].includes(k)) headers[k] = v;
    const upstream = await fetch(`${target()}${req.url!.slice(1)}`, { method: req.method, headers, body: body.length ? body : undefined, redirect: "manual" });
    const answer = Buffer.from(await upstream.arrayBuffer());
    if (last && front.loseNextLastAnswer) {
      front.loseNextLastAnswer = false;
      front.lost += 1;
      req.socket.destroy(); // the message is in; its answer never arrives
      return;
    }
    const out: Record<string, string> = {};
    upstream.headers.forEach((v, k) => {
      if (!["content-length", "transfer-encoding", "connection", "content-encoding"].includes(k)) out[k] = k === "location" ? v.replace(target(), front.url) : v;
    });
    res.writeHead(upstream.status, out).end(answer);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  front.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  front.close = () => new Promise<void>((r) => server.close(() => r()));
  return front;
}
