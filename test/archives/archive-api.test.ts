/**
 * `/v1/archives` through the whole app on a real store and a real directory:
 * upload (streamed, over real HTTP too), list, get, download with Range,
 * delete; bad, truncated and too-large uploads, a disk that is full before the
 * upload starts and one that fills during it (the write error injected) leave
 * neither a file nor a row.
 */
import { readdir, readFile } from "node:fs/promises";
import { createWriteStream } from "node:fs";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import type { AddressInfo } from "node:net";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { mboxEntry, takeoutLabelNames } from "../../connector/mbox.ts";
import { generatedMessage } from "./messages.ts";

/** What the injected file system does: a disk with this much free space, one that fails a write past this many bytes. */
const disk: { freeBytes?: number; failAfterBytes?: number } = {};

let t: TestApp;
let token: string;
let other: string;
let mbox: Buffer;
const COUNT = 30;

beforeAll(async () => {
  t = await startTestApp({
    deps: {
      archiveFs: {
        statfs: async () => ({ bavail: disk.freeBytes ?? 1e12, bsize: 1 }),
        createWriteStream(file, opts) {
          const real = createWriteStream(file, opts);
          let written = 0;
          return new Writable({
            write(chunk: Buffer, _enc, cb) {
              written += chunk.length;
              if (disk.failAfterBytes !== undefined && written > disk.failAfterBytes) {
                return cb(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", errno: -28, syscall: "write" }));
              }
              real.write(chunk, cb);
            },
            final: (cb) => real.end(cb),
            destroy(err, cb) {
              if (real.closed) return cb(err);
              real.once("close", () => cb(err));
              real.destroy();
            },
          });
        },
      },
    },
  });
  token = await t.newAccount();
  other = await t.newAccount();
  const entries: Buffer[] = [];
  for (let i = 0; i < COUNT; i++) {
    entries.push(mboxEntry({ raw: await generatedMessage(i), labels: takeoutLabelNames(i % 2 ? ["INBOX"] : ["SENT", "Label_1"], new Map([["Label_1", "Reçus"]])), internalDate: Date.UTC(2022, 0, 1 + i) }));
  }
  mbox = Buffer.concat(entries);
});
afterAll(async () => t?.close());

function upload(body: Buffer | Readable, opts: { token?: string; type?: string; name?: string; length?: boolean } = {}) {
  return t.app.inject({
    method: "POST",
    url: `/v1/archives${opts.name ? `?name=${encodeURIComponent(opts.name)}` : ""}`,
    headers: {
      authorization: `Bearer ${opts.token ?? token}`,
      "content-type": opts.type ?? "application/mbox",
      ...(Buffer.isBuffer(body) && opts.length !== false ? { "content-length": String(body.length) } : {}),
    },
    payload: body,
  });
}

/** Every file under ARCHIVE_DIR but the directory's token. */
async function filesLeft(): Promise<string[]> {
  const all = await readdir(t.config.archiveDir, { recursive: true, withFileTypes: true });
  return all.filter((d) => d.isFile() && d.name !== ".mailbridge-archive-dir").map((d) => path.relative(t.config.archiveDir, path.join(d.parentPath, d.name)));
}
const rows = async () => (await t.store.db.query<{ n: string }>("SELECT count(*) AS n FROM archives"))[0]!.n;

describe("archives API", () => {
  let id: string;

  it("takes an mbox upload, streamed, and lists it", async () => {
    expect(t.config.archiveDir).toBe(path.join(t.config.dataDir, "archives"));
    const res = await upload(Readable.from([mbox.subarray(0, 1000), mbox.subarray(1000, 5000), mbox.subarray(5000)]), { name: "Backup 2022" });
    expect(res.statusCode, res.body).toBe(201);
    const archive = res.json();
    id = archive.id;
    expect(archive).toMatchObject({ name: "Backup 2022", origin: "upload", runId: null, status: "complete", sizeBytes: mbox.length, messageCount: COUNT, firstDate: "2022-01-01T00:00:00.000Z", lastDate: "2022-01-30T00:00:00.000Z" });
    expect(await filesLeft()).toEqual([`${id}.mbox`]);
    expect((await readFile(path.join(t.config.archiveDir, `${id}.mbox`))).equals(mbox)).toBe(true);

    const a = api(t.app, token);
    expect((await a.get("/v1/archives")).json()).toEqual({ items: [archive], nextCursor: null });
    expect((await a.get(`/v1/archives/${id}`)).json()).toEqual(archive);
    const second = await upload(mbox, { type: "application/octet-stream" });
    expect(second.statusCode).toBe(201);
    expect(second.json().name).toMatch(/^upload-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.mbox$/);
    const page1 = (await a.get("/v1/archives?limit=1")).json();
    expect(page1.items.map((x: { id: string }) => x.id)).toEqual([id]);
    expect((await a.get(`/v1/archives?limit=1&cursor=${page1.nextCursor}`)).json()).toEqual({ items: [second.json()], nextCursor: null });
  });

  it("downloads it whole and by Range", async () => {
    const a = api(t.app, token);
    const whole = await t.app.inject({ url: `/v1/archives/${id}/download`, headers: { authorization: `Bearer ${token}` } });
    expect(whole.statusCode).toBe(200);
    expect(whole.rawPayload.equals(mbox)).toBe(true);
    expect(whole.headers).toMatchObject({ "content-type": "application/mbox", "content-length": String(mbox.length), "accept-ranges": "bytes" });
    expect(whole.headers["content-disposition"]).toBe(`attachment; filename="Backup 2022.mbox"; filename*=UTF-8''Backup%202022.mbox`);

    const range = (r: string, extra: Record<string, string> = {}) => t.app.inject({ url: `/v1/archives/${id}/download`, headers: { authorization: `Bearer ${token}`, range: r, ...extra } });
    const mid = await range("bytes=100-1099");
    expect(mid.statusCode).toBe(206);
    expect(mid.headers["content-range"]).toBe(`bytes 100-1099/${mbox.length}`);
    expect(mid.headers["content-length"]).toBe("1000");
    expect(mid.rawPayload.equals(mbox.subarray(100, 1100))).toBe(true);
    const resume = await range(`bytes=${mbox.length - 10}-`, { "if-range": String(whole.headers.etag) });
    expect(resume.statusCode).toBe(206);
    expect(resume.rawPayload.equals(mbox.subarray(-10))).toBe(true);
    const stale = await range("bytes=0-9", { "if-range": '"another-version"' });
    expect(stale.statusCode).toBe(200);
    expect(stale.rawPayload.length).toBe(mbox.length);
    const outside = await range(`bytes=${mbox.length}-`);
    expect(outside.statusCode).toBe(416);
    expect(outside.headers["content-range"]).toBe(`bytes */${mbox.length}`);
    expect(outside.json().error.code).toBe("range_not_satisfiable");
    expect((await a.get(`/v1/archives/${id}`)).statusCode).toBe(200);
  });

  it("shows another account's archive to no one else", async () => {
    const b = api(t.app, other);
    for (const res of [await b.get(`/v1/archives/${id}`), await b.get(`/v1/archives/${id}/download`), await b.delete(`/v1/archives/${id}`)]) {
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe("not_found");
    }
    expect((await b.get("/v1/archives")).json().items).toEqual([]);
    expect((await t.app.inject({ url: "/v1/archives" })).statusCode).toBe(401);
    expect((await upload(mbox, { token: "mb_not_a_token" })).statusCode).toBe(401);
  });

  it("refuses a truncated upload naming the line, and keeps nothing", async () => {
    const before = [await filesLeft(), await rows()];
    const cut = mbox.subarray(0, Math.floor(mbox.length / 2));
    const res = await upload(Readable.from([cut]));
    expect(res.statusCode).toBe(400);
    const lines = cut.toString("latin1").split("\n").length;
    const error = res.json().error;
    expect([error.code, error.details]).toEqual(["invalid_archive", { line: lines, problem: "truncated" }]);
    expect(error.message).toMatch(new RegExp(`^The archive is not a valid mbox file: line ${lines}: the archive ends in the middle of a line \\(message of line \\d+\\): it is truncated\\.$`));
    expect([await filesLeft(), await rows()]).toEqual(before);
  });

  it("refuses what is not an mbox, or not sent as one", async () => {
    const before = [await filesLeft(), await rows()];
    const notMbox = await upload(Buffer.from("Subject: no From line\r\n\r\nbody\r\n"));
    expect(notMbox.statusCode).toBe(400);
    expect(notMbox.json().error.details).toEqual({ line: 1, problem: "malformed" });
    expect(notMbox.json().error.message).toMatch(/line 1: an mbox starts with a From line/);
    const empty = await upload(Buffer.alloc(0));
    expect([empty.statusCode, empty.json().error.code]).toEqual([400, "invalid_archive"]);
    const json = await api(t.app, token).post("/v1/archives", { some: "json" });
    expect([json.statusCode, json.json().error.code]).toEqual([415, "unsupported_media_type"]);
    const text = await upload(mbox, { type: "text/plain" });
    expect(text.statusCode).toBe(415);
    const badName = await upload(mbox, { name: "x".repeat(101) });
    expect(badName.statusCode).toBe(400);
    expect([await filesLeft(), await rows()]).toEqual(before);
  });

  it("checks the disk before writing, and a disk that fills up leaves nothing behind", async () => {
    const before = [await filesLeft(), await rows()];
    disk.freeBytes = mbox.length + 1024; // less than the file plus the reserve
    const full = await upload(mbox);
    disk.freeBytes = undefined;
    expect(full.statusCode).toBe(507);
    expect(full.json().error.code).toBe("insufficient_storage");

    disk.failAfterBytes = 10_000;
    const filled = await upload(Readable.from([mbox.subarray(0, 8000), mbox.subarray(8000, 16000), mbox.subarray(16000)]));
    disk.failAfterBytes = undefined;
    expect(filled.statusCode).toBe(507);
    expect(filled.json().error).toEqual({ code: "insufficient_storage", message: "The disk is full: the archive was not kept." });
    expect([await filesLeft(), await rows()]).toEqual(before);
  });

  it("deletes an archive with its file", async () => {
    const a = api(t.app, token);
    expect((await a.delete(`/v1/archives/${id}`)).statusCode).toBe(204);
    expect((await a.get(`/v1/archives/${id}`)).statusCode).toBe(404);
    expect(await filesLeft()).not.toContain(`${id}.mbox`);
    expect((await a.delete(`/v1/archives/${id}`)).statusCode).toBe(404);
  });

  it("serves a run's archive only once it is complete, and HEAD tells its size", async () => {
    const accountId = (await api(t.app, token).get("/v1/me")).json().id;
    await t.store.db.query("INSERT INTO flows (id, account_id, name) VALUES ('flw_api_archive', $1, 'archive flow')", [accountId]);
    await t.store.db.query("INSERT INTO flow_runs (id, account_id, flow_id, status) VALUES ('run_api_archive', $1, 'flw_api_archive', 'succeeded')", [accountId]);
    const { archive, writer } = await t.app.archives.openRunArchive(accountId, "run_api_archive", { name: "nightly" });
    await writer.write({ raw: await generatedMessage(1), labels: ["Inbox"], internalDate: 0 });
    await writer.end();
    const a = api(t.app, token);
    const writing = await a.get(`/v1/archives/${archive.id}/download`);
    expect([writing.statusCode, writing.json().error.code]).toEqual([409, "conflict"]);
    expect((await a.delete(`/v1/archives/${archive.id}`)).json().error.code).toBe("in_use");
    await t.app.archives.finishRunArchive(accountId, archive.id, { status: "complete", sizeBytes: writer.bytesWritten, messageCount: 1 });
    const head = await t.app.inject({ method: "HEAD", url: `/v1/archives/${archive.id}/download`, headers: { authorization: `Bearer ${token}` } });
    expect([head.statusCode, head.headers["content-length"], head.rawPayload.length]).toEqual([200, String(writer.bytesWritten), 0]);
    expect(head.headers["content-disposition"]).toContain('filename="nightly.mbox"');
    expect((await a.get(`/v1/archives/${archive.id}`)).json()).toMatchObject({ origin: "run", runId: "run_api_archive", status: "complete", messageCount: 1 });
  });

  it("streams an upload over real HTTP, and answers 400 before the body has all arrived", async () => {
    await t.app.listen({ port: 0, host: "127.0.0.1" });
    const base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    const ok = await fetch(`${base}/v1/archives?name=http`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/mbox" },
      body: Readable.toWeb(Readable.from([mbox.subarray(0, 3), mbox.subarray(3)])) as ReadableStream,
      duplex: "half",
    } as RequestInit);
    expect(ok.status).toBe(201);
    expect((await ok.json()).messageCount).toBe(COUNT);

    // A bad first line, then more body than the server will read: the answer comes anyway.
    async function* endless() {
      yield Buffer.from("not an mbox\n");
      for (let i = 0; i < 2000; i++) yield Buffer.alloc(64 * 1024, 0x61);
    }
    const bad = await fetch(`${base}/v1/archives`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/mbox" },
      body: Readable.toWeb(Readable.from(endless())) as ReadableStream,
      duplex: "half",
    } as RequestInit).then(
      async (r) => ({ status: r.status, body: await r.json() }),
      (err: Error) => ({ status: 0, body: String(err) }),
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toEqual({ line: 1, problem: "malformed" });

    // A client that goes away mid-upload leaves nothing behind either.
    const before = [await filesLeft(), await rows()];
    const req = http.request(`${base}/v1/archives`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/mbox", "content-length": String(mbox.length) } });
    req.on("error", () => {});
    req.write(mbox.subarray(0, 5000));
    await vi.waitFor(async () => expect((await readdir(path.join(t.config.archiveDir, ".tmp"))).length).toBe(1));
    req.destroy();
    await vi.waitFor(async () => expect([await filesLeft(), await rows()]).toEqual(before));
  });
});
