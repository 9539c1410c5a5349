/**
 * Archives as a flow destination and source (SPEC §2 "Archives"), through the whole app and the
 * emulator over HTTP: a generated mailbox backed up into a run's archive (every message's raw
 * bytes equal to Gmail's `format=raw`, its Takeout labels and its internal date in the `From `
 * line), downloaded with Range, uploaded again and restored into an empty mailbox with `import`
 * (bytes, labels by name and dates equal), also while Google answers 503 to a share of the
 * calls (the runs resume from their positions: nothing lost, nothing doubled); and the 400s of
 * a flow that misuses the application; a full disk (the write error injected) fails the run
 * with insufficient_storage once its retries are spent.
 */
import { createWriteStream } from "node:fs";
import { Readable, Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readMbox, takeoutLabelNames, type MboxMessage } from "../../connector/mbox.ts";
import { rfc5322Date } from "../../connector/gmail-export.ts";
import { flowWorld, rawMessage, type FlowWorld } from "../flows/support.ts";
import { generatedMessage } from "./messages.ts";

const COUNT = 300;

interface GmailMessage {
  id: string;
  raw: Buffer;
  labelIds: string[];
  internalDate: number;
  messageId: string;
}

let w: FlowWorld;
let accountId: string;
/** The injected disk: a run archive's writes fail with ENOSPC past this many bytes of one stream. */
const disk: { failAfterBytes?: number } = {};

beforeAll(async () => {
  w = await flowWorld({
    deps: {
      flows: { retry: { attempts: 40, baseMs: 20, maxMs: 200 } },
      archiveFs: {
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
  accountId = await w.accountId();
  // This suite is about archives, not quota (the emulator enforces Google's 6,000 units a minute
  // since 44519ae, and the test service does not pace to it): lifted, so runs are not paused.
  await w.google.admin("PUT", "/settings", { quotaUnitsPerMinute: 10_000_000 });
});
afterAll(() => w?.close());

/** Every message of a mailbox as Gmail's `format=raw` gives it (spam and trash too). */
async function mailboxMessages(connectionId: string, email: string): Promise<GmailMessage[]> {
  const { messages } = await w.user(email);
  return Promise.all(
    messages.map(async ({ id }) => {
      const res = await w.t.app.gmail.run(accountId, connectionId, "messages.get", (g, options) => g.users.messages.get({ userId: "me", id, format: "raw" }, options));
      const raw = Buffer.from(res.data.raw!, "base64url");
      return { id, raw, labelIds: [...(res.data.labelIds ?? [])].sort(), internalDate: Number(res.data.internalDate), messageId: messageIdOf(raw) };
    }),
  );
}

/** Every message of a mailbox as `raw|labels`, sorted (for messages without a Message-ID). */
/** Every message's bytes, labels and internal date (messages may lack a Message-ID). */
async function rawMessages(connectionId: string, email: string): Promise<Array<{ raw: Buffer; labelIds: string[]; internalDate: number }>> {
  const { messages } = await w.user(email);
  return Promise.all(
    messages.map(async ({ id }) => {
      const res = await w.t.app.gmail.run(accountId, connectionId, "messages.get", (g, options) => g.users.messages.get({ userId: "me", id, format: "raw" }, options));
      return { raw: Buffer.from(res.data.raw!, "base64url"), labelIds: [...(res.data.labelIds ?? [])].sort(), internalDate: Number(res.data.internalDate) };
    }),
  );
}

async function rawAndLabels(connectionId: string, email: string): Promise<string[]> {
  const { messages } = await w.user(email);
  const all = await Promise.all(
    messages.map(async ({ id }) => {
      const res = await w.t.app.gmail.run(accountId, connectionId, "messages.get", (g, options) => g.users.messages.get({ userId: "me", id, format: "raw" }, options));
      return `${Buffer.from(res.data.raw!, "base64url").toString("base64")}|${[...(res.data.labelIds ?? [])].sort().join(",")}`;
    }),
  );
  return all.sort();
}

function messageIdOf(raw: Buffer): string {
  const head = raw.subarray(0, raw.indexOf("\r\n\r\n") > 0 ? raw.indexOf("\r\n\r\n") : raw.length).toString("latin1");
  const m = /^Message-ID:\s*(<[^>]+>)/im.exec(head);
  if (!m) throw new Error("a generated message without a Message-ID");
  return m[1]!;
}

async function parse(bytes: Buffer): Promise<MboxMessage[]> {
  const out: MboxMessage[] = [];
  for await (const m of readMbox(Readable.from([bytes]))) out.push(m);
  return out;
}

async function userLabels(email: string): Promise<Map<string, string>> {
  return new Map((await w.user(email)).labels.filter((l) => !/^[A-Z_]+$/.test(l.id)).map((l) => [l.id, l.name]));
}

/** A message's labels by name: system ids as they are, user labels by their name. */
const labelKey = (labelIds: string[], names: Map<string, string>) => labelIds.map((id) => names.get(id) ?? id).sort();

async function backUp(connectionId: string): Promise<{ run: any; bytes: Buffer }> {
  const flowId = await w.flow({ source: { connectionId, export: { format: "raw" } }, destinations: [{ application: "archive" }] });
  const run = await w.run(flowId);
  expect(run.status, JSON.stringify(run.errors)).toBe("succeeded");
  const res = await w.a.get(`/v1/runs/${run.id}/archive`);
  expect(res.statusCode).toBe(200);
  expect(res.headers["content-type"]).toBe("application/mbox");
  expect(Number(res.headers["content-length"])).toBe(res.rawPayload.length);
  return { run, bytes: res.rawPayload };
}

async function restore(bytes: Buffer, connectionId: string): Promise<any> {
  const up = await w.t.app.inject({
    method: "POST",
    url: "/v1/archives?name=backup.mbox",
    headers: { authorization: `Bearer ${w.t.adminToken}`, "content-type": "application/mbox", "content-length": String(bytes.length) },
    payload: bytes,
  });
  expect(up.statusCode, up.body).toBe(201);
  const flowId = await w.flow({ source: { application: "archive", archiveId: up.json().id }, destinations: [{ connectionId, import: { action: "import" } }] });
  const run = await w.run(flowId);
  expect(run.status, JSON.stringify(run.errors)).toBe("succeeded");
  return run;
}

describe("a mailbox backed up into a run's archive and restored from it", () => {
  it("lists Archive among the applications: a source and a destination, no scopes", async () => {
    const apps = (await w.a.get("/v1/applications")).json();
    expect(apps.find((a: any) => a.id === "archive")).toEqual({ id: "archive", name: "Archive", scopes: [], defaultScopes: [], supports: { source: true, destination: true, lookup: false } });
  });

  it(`writes ${COUNT} generated messages byte-equal with their labels and dates, and restores them into an empty mailbox`, async () => {
    const src = await w.mailbox({ generate: COUNT, attachments: true });
    const original = await mailboxMessages(src.connectionId, src.email);
    expect(original).toHaveLength(COUNT);
    const srcLabels = await userLabels(src.email);

    const { run, bytes } = await backUp(src.connectionId);
    expect(run.progress).toEqual({ exported: COUNT, imported: COUNT, failed: 0 });
    const archived = await parse(bytes);
    expect(archived).toHaveLength(COUNT);
    const byMessageId = new Map(original.map((m) => [m.messageId, m]));
    for (const a of archived) {
      const o = byMessageId.get(messageIdOf(a.raw))!;
      expect(o, "an archived message the mailbox does not hold").toBeDefined();
      expect(a.raw.equals(o.raw), `raw bytes of ${o.messageId}`).toBe(true);
      expect([...a.labels].sort()).toEqual(takeoutLabelNames(o.labelIds, srcLabels).sort());
      expect(a.date.getTime()).toBe(Math.floor(o.internalDate / 1000) * 1000);
    }
    expect(new Set(archived.map((a) => messageIdOf(a.raw))).size).toBe(COUNT);
    // The archive's row has the figures; a range of it comes back as 206.
    const archive = (await w.a.get(`/v1/archives?limit=100`)).json().items.find((x: any) => x.runId === run.id);
    expect(archive).toMatchObject({ origin: "run", status: "complete", sizeBytes: bytes.length, messageCount: COUNT });
    const part = await w.t.app.inject({ url: `/v1/runs/${run.id}/archive`, headers: { authorization: `Bearer ${w.t.adminToken}`, range: "bytes=100-199" } });
    expect(part.statusCode).toBe(206);
    expect(part.rawPayload.equals(bytes.subarray(100, 200))).toBe(true);

    const dst = await w.mailbox();
    const restored = await restore(bytes, dst.connectionId);
    expect(restored.progress).toEqual({ exported: COUNT, imported: COUNT, failed: 0 });
    const copies = await mailboxMessages(dst.connectionId, dst.email);
    expect(copies).toHaveLength(COUNT);
    const dstLabels = await userLabels(dst.email);
    expect([...dstLabels.values()].sort()).toEqual([...srcLabels.values()].sort());
    for (const c of copies) {
      const o = byMessageId.get(c.messageId)!;
      expect(c.raw.equals(o.raw), `restored bytes of ${o.messageId}`).toBe(true);
      expect(labelKey(c.labelIds, dstLabels)).toEqual(labelKey(o.labelIds, srcLabels));
      expect(Math.floor(c.internalDate / 1000)).toBe(Math.floor(o.internalDate / 1000));
    }
  }, 120_000); // 300 messages backed up, restored and read twice: 9 s alone, 27 s on a loaded 2-core machine

  it("keeps awkward mail byte-equal through the round trip: 8-bit, message/rfc822, LF-only, unterminated, >From lines, Takeout-like headers", async () => {
    const shapes = [["INBOX", "UNREAD"], ["SENT"], ["INBOX", "STARRED", "IMPORTANT"], [], ["TRASH"], ["SPAM"], ["INBOX", "CATEGORY_UPDATES"]];
    const messages = await Promise.all(Array.from({ length: 28 }, async (_, i) => ({ raw: (await generatedMessage(i)).toString("base64"), labelIds: shapes[i % shapes.length]! })));
    const src = await w.mailbox({ messages });
    const before = await rawAndLabels(src.connectionId, src.email);
    expect(before).toHaveLength(28);
    const { bytes } = await backUp(src.connectionId);
    // The 8-bit, LF-only and unterminated ones have no Date header: the restore gives them one with
    // the archive's date (the source's internal date, whole seconds) ending as their first line
    // does, their only change, so their date survives too.
    const sources = await rawMessages(src.connectionId, src.email);
    const undated = sources.filter((m) => !/^Date:/im.test(m.raw.toString("latin1").split(/\r?\n\r?\n/)[0]!));
    expect(undated).toHaveLength(12);
    const expected = sources.map((m) => {
      const eol = /^[^\n]*\r\n/.test(m.raw.toString("latin1")) ? "\r\n" : "\n";
      const raw = undated.includes(m) ? Buffer.concat([Buffer.from(`Date: ${rfc5322Date(new Date(Math.floor(m.internalDate / 1000) * 1000))}${eol}`), m.raw]) : m.raw;
      return `${raw.toString("base64")}|${m.labelIds.join(",")}`;
    });
    const dst = await w.mailbox();
    const restored = await restore(bytes, dst.connectionId);
    expect(restored.progress).toEqual({ exported: 28, imported: 28, failed: 0 });
    expect(await rawAndLabels(dst.connectionId, dst.email)).toEqual(expected.sort());
    const copies = await rawMessages(dst.connectionId, dst.email);
    for (const [i, o] of sources.entries()) {
      const c = copies.find((x) => x.raw.length >= o.raw.length && x.raw.subarray(-o.raw.length).equals(o.raw))!;
      expect(Math.floor(c.internalDate / 1000), `the date of message ${i}`).toBe(Math.floor(o.internalDate / 1000));
    }
  });

  it("restores an mbox another tool wrote (Takeout's and Thunderbird's layouts), labels created by name", async () => {
    const one = rawMessage({ to: "me@example.com", subject: "from takeout", messageId: "<takeout-1@example.org>", date: new Date(Date.UTC(2021, 4, 3, 10, 0, 0)) });
    const two = rawMessage({ to: "me@example.com", subject: "from thunderbird", messageId: "<tb-1@example.org>", text: "From the line start\r\n>From quoted" });
    const three = rawMessage({ to: "me@example.com", subject: "undated", messageId: "<undated-1@example.org>" }).replace(/^Date: .*\r\n/m, "");
    const mbox = Buffer.concat([
      Buffer.from(`From 1698765432101234567@xxx Mon May 03 10:00:00 +0000 2021\nX-GM-THRID: 1698765432101234567\nX-Gmail-Labels: Inbox,Starred,Work,"Quoted, label",Opened\n`),
      Buffer.from(one),
      Buffer.from("\n"),
      Buffer.from("From - Tue May 04 11:00:00 2021\nX-Mozilla-Status: 0001\nX-Mozilla-Status2: 00000000\n"),
      Buffer.from(two.replace(/^(From the line start)/m, ">$1").replace(/^>From quoted/m, ">>From quoted")),
      Buffer.from("\n"),
      // No Date header: its date is the archive's, the From line's.
      Buffer.from("From MAILER-DAEMON Wed Jun  5 12:30:00 2019\n"),
      Buffer.from(three),
      Buffer.from("\n"),
    ]);
    const dst = await w.mailbox();
    const run = await restore(mbox, dst.connectionId);
    expect(run.progress).toEqual({ exported: 3, imported: 3, failed: 0 });
    const labels = await userLabels(dst.email);
    expect([...labels.values()].sort()).toEqual(["Quoted, label", "Work"]);
    const copies = await mailboxMessages(dst.connectionId, dst.email);
    const takeout = copies.find((c) => c.messageId === "<takeout-1@example.org>")!;
    expect(takeout.raw.toString()).toBe(one);
    expect(labelKey(takeout.labelIds, labels)).toEqual(["INBOX", "Quoted, label", "STARRED", "Work"]);
    expect(takeout.internalDate).toBe(Date.UTC(2021, 4, 3, 10, 0, 0));
    const thunderbird = copies.find((c) => c.messageId === "<tb-1@example.org>")!;
    expect(thunderbird.raw.toString().startsWith("X-Mozilla-Status: 0001\r\n") || thunderbird.raw.toString().startsWith("X-Mozilla-Status: 0001\n")).toBe(true);
    expect(thunderbird.raw.toString()).toContain("\r\nFrom the line start\r\n>From quoted");
    const undated = copies.find((c) => c.messageId === "<undated-1@example.org>")!;
    expect(undated.internalDate).toBe(Date.UTC(2019, 5, 5, 12, 30, 0));
    expect(undated.raw.toString()).toBe(`Date: Wed, 05 Jun 2019 12:30:00 +0000\r\n${three}`);
  });

  it("loses and doubles nothing while Google answers 503 to 15 % of the calls (the runs retried)", async () => {
    const src = await w.mailbox({ generate: 200 });
    const original = await mailboxMessages(src.connectionId, src.email);
    await w.google.admin("PUT", "/settings", { faults: { status: 503, rate: 0.15 } });
    let bytes: Buffer;
    let restored: any;
    const dst = await w.mailbox();
    try {
      const backup = await backUp(src.connectionId);
      bytes = backup.bytes;
      restored = await restore(bytes, dst.connectionId);
      const attempts = await w.t.store.db.query<{ attempts: number }>("SELECT attempts FROM flow_runs WHERE id = ANY($1::text[])", [[backup.run.id, restored.id]]);
      expect(attempts.some((r) => r.attempts > 1), "the faults did make a run retry").toBe(true);
    } finally {
      await w.google.admin("PUT", "/settings", { faults: null });
    }
    const archived = await parse(bytes);
    expect(archived.map((a) => messageIdOf(a.raw)).sort()).toEqual(original.map((o) => o.messageId).sort());
    const copies = await mailboxMessages(dst.connectionId, dst.email);
    expect(copies.map((c) => c.messageId).sort()).toEqual(original.map((o) => o.messageId).sort());
    const byMessageId = new Map(original.map((m) => [m.messageId, m]));
    for (const c of copies) expect(c.raw.equals(byMessageId.get(c.messageId)!.raw)).toBe(true);
    expect(restored.progress).toEqual({ exported: 200, imported: 200, failed: 0 });
  }, 120_000); // two runs retried through 503s: 7 s alone, 14 s loaded

  it("resumes a backup and a restore whose attempt died from the last page saved: nothing lost or doubled", async () => {
    const N = 1100; // pages of 500 (Gmail's listing) and of 100 (an archive read back)
    const src = await w.mailbox({ generate: N });
    const original = await mailboxMessages(src.connectionId, src.email);
    const db = w.t.store.db;
    // Saving the position after the backup's second page, and after the restore's third, fails
    // once as a lost database connection would (SQLSTATE 08006): the attempt ends there and the
    // retry resumes from the page before.
    await db.query("CREATE SEQUENCE pos_backup_seq");
    await db.query("CREATE SEQUENCE pos_restore_seq");
    await db.query(`CREATE FUNCTION pos_blip() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.position->>'listed' = '1000' AND nextval('pos_backup_seq') = 1 THEN RAISE EXCEPTION 'connection lost' USING ERRCODE = '08006'; END IF;
        IF NEW.position ? 'offset' AND (NEW.position->'progress'->>'exported')::int = 300 AND nextval('pos_restore_seq') = 1 THEN
          RAISE EXCEPTION 'connection lost' USING ERRCODE = '08006';
        END IF;
        RETURN NEW;
      END $$`);
    await db.query("CREATE TRIGGER pos_blip BEFORE UPDATE OF position ON flow_runs FOR EACH ROW WHEN (NEW.position IS NOT NULL) EXECUTE FUNCTION pos_blip()");
    const dst = await w.mailbox();
    let backup: { run: any; bytes: Buffer };
    let restored: any;
    // 1,100 imports are over the emulator's per-user minute (25 units each): lifted here, so the
    // only interruptions are the injected ones.
    const { quotaUnitsPerMinute } = await w.google.admin("GET", "/settings");
    await w.google.admin("PUT", "/settings", { quotaUnitsPerMinute: 10_000_000 });
    try {
      backup = await backUp(src.connectionId);
      restored = await restore(backup.bytes, dst.connectionId);
    } finally {
      await db.query("DROP TRIGGER pos_blip ON flow_runs");
      await w.google.admin("PUT", "/settings", { quotaUnitsPerMinute });
    }
    expect(Number((await db.query("SELECT last_value FROM pos_backup_seq"))[0]!.last_value)).toBeGreaterThanOrEqual(1);
    const attempts = await db.query<{ id: string; attempts: number }>("SELECT id, attempts FROM flow_runs WHERE id = ANY($1::text[])", [[backup.run.id, restored.id]]);
    expect(attempts.map((r) => r.attempts)).toEqual([2, 2]);
    const resumed = w.t.logs.filter((l) => l.includes("run resumed from its last page")).map((l) => JSON.parse(l));
    expect(resumed.find((l) => l.runId === backup.run.id)?.position).toMatchObject({ listed: 500, archiveMessages: 500, progress: { exported: 500 } });
    expect(resumed.find((l) => l.runId === restored.id)?.position).toMatchObject({ progress: { exported: 200 } });

    expect(backup.run.progress).toEqual({ exported: N, imported: N, failed: 0 });
    const archived = await parse(backup.bytes);
    expect(archived.map((a) => messageIdOf(a.raw)).sort()).toEqual(original.map((o) => o.messageId).sort());
    expect(restored.progress).toEqual({ exported: N, imported: N, failed: 0 });
    const copies = await mailboxMessages(dst.connectionId, dst.email);
    expect(copies.map((c) => c.messageId).sort()).toEqual(original.map((o) => o.messageId).sort());
  }, 120_000);
});

describe("a full disk under a backup", () => {
  it("fails the run with insufficient_storage after its retries, the archive marked failed, and the next run succeeds", async () => {
    const src = await w.mailbox({ generate: 40 });
    const flowId = await w.flow({ source: { connectionId: src.connectionId, export: { format: "raw" } }, destinations: [{ application: "archive" }] });
    disk.failAfterBytes = 20_000;
    let run: any;
    try {
      run = await w.run(flowId);
    } finally {
      disk.failAfterBytes = undefined;
    }
    expect(run.status).toBe("failed");
    expect(run.errors[0]).toMatchObject({ code: "insufficient_storage", message: expect.stringContaining("The disk is full") });
    const archive = (await w.a.get("/v1/archives?limit=100")).json().items.find((a: any) => a.runId === run.id);
    expect(archive.status).toBe("failed");
    expect((await w.a.get(`/v1/runs/${run.id}/archive`)).statusCode).toBe(409);
    const again = await w.run(flowId);
    expect(again.status).toBe("succeeded");
    expect((await w.a.get(`/v1/runs/${again.id}/archive`)).statusCode).toBe(200);
  });
});

describe("flows that misuse the archive application", () => {
  let connectionId: string;
  let archiveId: string;
  beforeAll(async () => {
    connectionId = (await w.mailbox({ generate: 3 })).connectionId;
    const { bytes } = await backUp(connectionId);
    const up = await w.t.app.inject({
      method: "POST",
      url: "/v1/archives",
      headers: { authorization: `Bearer ${w.t.adminToken}`, "content-type": "application/mbox" },
      payload: bytes,
    });
    archiveId = up.json().id;
  });

  const post = (body: Record<string, unknown>) => w.a.post("/v1/flows", { name: `misuse ${Math.random()}`, ...body });
  const gmailDest = () => ({ connectionId, import: { action: "import" } });

  it.each([
    ["an archive destination with a connection", () => ({ source: { connectionId }, destinations: [{ application: "archive", connectionId }] }), "body.destinations.0.connectionId"],
    ["an archive destination with an import", () => ({ source: { connectionId }, destinations: [{ application: "archive", import: { action: "import" } }] }), "body.destinations.0.import"],
    ["two archive destinations", () => ({ source: { connectionId }, destinations: [{ application: "archive" }, { application: "archive" }] }), "body.destinations"],
    ["a Gmail destination without a connection", () => ({ source: { connectionId }, destinations: [{ import: { action: "import" } }] }), "body.destinations.0.connectionId"],
    ["an archive source without archiveId", () => ({ source: { application: "archive" }, destinations: [gmailDest()] }), "body.source.archiveId"],
    ["an archive source with a connection", () => ({ source: { application: "archive", archiveId, connectionId }, destinations: [gmailDest()] }), "body.source.connectionId"],
    ["an archive source with export settings", () => ({ source: { application: "archive", archiveId, export: { format: "raw" } }, destinations: [gmailDest()] }), "body.source.export"],
    ["a Gmail source without a connection", () => ({ source: { export: { format: "raw" } }, destinations: [gmailDest()] }), "body.source.connectionId"],
    ["an archive into an archive", () => ({ source: { application: "archive", archiveId }, destinations: [{ application: "archive" }] }), "body.destinations.0.application"],
    ["labels changed on an archive's messages", () => ({ source: { application: "archive", archiveId }, destinations: [{ connectionId, import: { action: "trash" } }] }), "body.destinations.0.import.action"],
  ])("refuses %s (400 naming the field)", async (_name, body, field) => {
    const res = await post(body());
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error.code).toBe("validation_failed");
    expect(JSON.stringify(res.json().error)).toContain(field);
  });

  it("refuses an unknown application, a Gmail trigger on an archive source, and another account's archive", async () => {
    expect((await post({ source: { connectionId }, destinations: [{ application: "dropbox" }] })).statusCode).toBe(400);
    const trig = await post({ source: { application: "archive", archiveId }, destinations: [gmailDest()], trigger: { type: "gmail" } });
    expect(trig.statusCode, trig.body).toBe(400);
    const other = await w.t.newAccount();
    const res = await w.t.app.inject({
      method: "POST",
      url: "/v1/flows",
      headers: { authorization: `Bearer ${other}` },
      payload: { name: "theirs", source: { application: "archive", archiveId }, destinations: [gmailDest()] },
    });
    expect(res.statusCode, res.body).toBe(404);
    expect(res.json().error.message).toContain(archiveId);
  });

  it("answers 404 for the archive of a run that wrote none", async () => {
    const flowId = await w.flow({ source: { connectionId, export: { format: "metadata" } }, destinations: [{ connectionId, import: { action: "addLabels", labelIds: ["STARRED"] } }] });
    const run = await w.run(flowId);
    expect((await w.a.get(`/v1/runs/${run.id}/archive`)).statusCode).toBe(404);
  });
});
