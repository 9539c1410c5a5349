/**
 * The mboxrd writer and reader (connector/mbox.ts): byte-equal round trips of
 * awkward mail through real files read in small and large chunks, files laid
 * out as Takeout and Thunderbird write them, and bad or truncated input
 * reported with its line.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createWriteStream } from "node:fs";
import os from "node:os";
import { Writable } from "node:stream";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MboxFormatError, MboxParser, MboxWriter, asctime, labelsFromTakeout, mboxEntry, readMbox, takeoutLabelNames, type MboxMessage } from "../../connector/mbox.ts";
import { generatedMessage } from "./messages.ts";

let dir: string;
beforeAll(async () => void (dir = await mkdtemp(path.join(os.tmpdir(), "mbox-test-"))));
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function readAll(file: string, highWaterMark = 64 * 1024, opts = {}): Promise<MboxMessage[]> {
  const out: MboxMessage[] = [];
  for await (const m of readMbox(createReadStream(file, { highWaterMark, ...opts }))) out.push(m);
  return out;
}

async function failure(content: Buffer | string): Promise<MboxFormatError> {
  const file = path.join(dir, `bad-${Math.random()}.mbox`);
  await writeFile(file, content);
  const err = await readAll(file, 5).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(MboxFormatError);
  return err as MboxFormatError;
}

const USER_LABELS = new Map([
  ["Label_1", "My label"],
  ["Label_2", "Work/Projects, 2024"],
  ["Label_3", 'Say "hi"'],
  ["Label_4", "Reçus 📎"],
]);
const LABEL_SETS = [["INBOX", "UNREAD", "IMPORTANT"], ["SENT"], [], ["Label_1", "Label_2", "STARRED", "CATEGORY_UPDATES"], ["INBOX", "Label_3", "Label_4"], ["TRASH", "Label_gone"]];

describe("mboxrd round trip", () => {
  const count = 140;
  const written: { raw: Buffer; labels: string[]; date: number }[] = [];
  let file: string;

  beforeAll(async () => {
    file = path.join(dir, "round-trip.mbox");
    const writer = new MboxWriter(createWriteStream(file));
    for (let i = 0; i < count; i++) {
      const raw = await generatedMessage(i);
      const labels = takeoutLabelNames(LABEL_SETS[i % LABEL_SETS.length]!, USER_LABELS);
      const date = Date.UTC(2021, 5, 1) + i * 86_399_123;
      written.push({ raw, labels, date });
      await writer.write({ raw, labels, internalDate: date, id: String(1_700_000_000_000_000_000n + BigInt(i)) });
    }
    await writer.end();
    expect(writer.messages).toBe(count);
    expect((await readFile(file)).length).toBe(writer.bytesWritten);
  });

  it.each([1, 7, 4096, 1 << 20])("gives back every message byte-equal, with its labels and date (chunks of %i bytes)", async (chunk) => {
    const read = await readAll(file, chunk);
    expect(read).toHaveLength(count);
    read.forEach((m, i) => {
      expect(m.raw.equals(written[i]!.raw), `message ${i}: ${JSON.stringify(m.raw.toString("latin1").slice(0, 200))}`).toBe(true);
      expect(m.labels).toEqual(written[i]!.labels);
      expect(m.date.getTime()).toBe(Math.floor(written[i]!.date / 1000) * 1000);
    });
  });

  it("quotes From lines the mboxrd way and writes Takeout's label names", async () => {
    const text = (await readFile(file)).toString("latin1");
    expect(text.startsWith(`From 1700000000000000000@xxx ${asctime(Date.UTC(2021, 5, 1))}\nX-Gmail-Labels: Inbox,Unread,Important\r\n`)).toBe(true);
    // Every line starting with From is a From_ line of an entry; the bodies' ones were quoted.
    const fromLines = text.split("\n").filter((l) => l.startsWith("From "));
    expect(fromLines).toHaveLength(count);
    expect(text).toContain("\r\n>From the start of a line\r\n>>From quoted once\r\n>>>From quoted twice\r\n>>>From\r\n>From \r\n");
    expect(text).toContain("X-Gmail-Labels: Archived,My label,\"Work/Projects, 2024\",Starred,Category Updates,Opened");
    expect(labelsFromTakeout(written[3]!.labels)).toEqual({ systemLabelIds: ["STARRED", "CATEGORY_UPDATES"], userLabelNames: ["My label", "Work/Projects, 2024"] });
    expect(labelsFromTakeout(written[0]!.labels)).toEqual({ systemLabelIds: ["INBOX", "UNREAD", "IMPORTANT"], userLabelNames: [] });
  });

  it("resumes from a message's end offset and line, and validates in constant memory", async () => {
    const all = await readAll(file);
    const k = 57;
    const rest: MboxMessage[] = [];
    for await (const m of readMbox(createReadStream(file, { start: all[k]!.endOffset }), { firstLine: all[k]!.endLine, firstOffset: all[k]!.endOffset })) rest.push(m);
    expect(rest.map((m) => [m.line, m.offset, m.raw.toString("base64")])).toEqual(all.slice(k + 1).map((m) => [m.line, m.offset, m.raw.toString("base64")]));

    const counter = new MboxParser({ keepBytes: false });
    for await (const chunk of createReadStream(file, { highWaterMark: 333 })) counter.push(chunk as Buffer);
    counter.end();
    expect(counter.count).toBe(count);
  });
});

describe("mbox files other tools write", () => {
  it("reads Takeout's layout: X-GM-THRID and X-Gmail-Labels first, taken off the message", async () => {
    const message = (n: number) =>
      `Delivered-To: me@gmail.com\r\nReceived: by 2002:a05:1234 with SMTP id x;\r\n        Tue, 3 Mar 2020 02:20:30 -0800 (PST)\r\nFrom: Someone <s@x.test>\r\nSubject: takeout ${n}\r\nDate: Tue, 3 Mar 2020 10:20:30 +0000\r\n\r\nBody ${n}\r\n>From a quoted line\r\n`;
    const file = path.join(dir, "takeout.mbox");
    await writeFile(
      file,
      `From 1660283458923048120@xxx Tue Mar 03 10:20:30 +0000 2020\nX-GM-THRID: 1660283458923048120\r\nX-Gmail-Labels: Inbox,Important,Opened,Category Personal,"Trips, 2020"\r\n${message(1)}\r\n` +
        `From 1660283458923048121@xxx Wed Mar 04 23:59:01 +0000 2020\nX-GM-THRID: 1660283458923048121\r\nX-Gmail-Labels: Archived,Unread,=?UTF-8?Q?Re=C3=A7us?=\r\n${message(2)}\r\n`,
    );
    const read = await readAll(file, 10);
    expect(read.map((m) => m.raw.toString("utf8"))).toEqual([message(1).replace(">From", "From"), message(2).replace(">From", "From")]);
    expect(read.map((m) => m.labels)).toEqual([["Inbox", "Important", "Opened", "Category Personal", "Trips, 2020"], ["Archived", "Unread", "Reçus"]]);
    expect(read.map((m) => m.date.toISOString())).toEqual(["2020-03-03T10:20:30.000Z", "2020-03-04T23:59:01.000Z"]);
    expect(read[0]!.sender).toBe("1660283458923048120@xxx");
    expect(labelsFromTakeout(read[1]!.labels)).toEqual({ systemLabelIds: ["UNREAD"], userLabelNames: ["Reçus"] });
  });

  it("reads Thunderbird's layout: From - lines, LF ends, a blank line between messages", async () => {
    const message = (n: number) =>
      `X-Mozilla-Status: 0001\nX-Mozilla-Status2: 00000000\nX-Gmail-Labels: Work\nFrom: a@x.test\nSubject: tb ${n}\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nline one\n>From quoted by Thunderbird\n`;
    const file = path.join(dir, "thunderbird.mbox");
    await writeFile(file, `From - Mon Jan  1 00:00:00 2024\n${message(1)}\nFrom - Tue Jan 02 12:30:00 2024\n${message(2)}\n`);
    const read = await readAll(file, 3);
    expect(read.map((m) => m.raw.toString())).toEqual([1, 2].map((n) => message(n).replace(">From", "From")));
    // A label header of another tool is read but stays in the message.
    expect(read.map((m) => m.labels)).toEqual([["Work"], ["Work"]]);
    expect(read.map((m) => [m.sender, m.date.toISOString(), m.line])).toEqual([
      ["-", "2024-01-01T00:00:00.000Z", 1],
      ["-", "2024-01-02T12:30:00.000Z", 12],
    ]);
  });
});

describe("bad and truncated input", () => {
  const good = (subject: string) => mboxEntry({ raw: Buffer.from(`Subject: ${subject}\r\n\r\nbody\r\n`), labels: ["Inbox"], internalDate: 0 });

  it("names line 1 when the file is not an mbox", async () => {
    const err = await failure('{"not": "an mbox"}\n');
    expect([err.line, err.problem]).toEqual([1, "malformed"]);
    expect(err.message).toMatch(/^line 1: /);
  });

  it("names the line of an unquoted From that is no From_ line", async () => {
    const err = await failure(Buffer.concat([good("a"), Buffer.from("From here on it is not mbox\n")]));
    expect([err.line, err.problem]).toEqual([7, "malformed"]);
  });

  it("reports a file cut in the middle of a line as truncated, naming that line", async () => {
    const whole = Buffer.concat([good("a"), good("b"), good("c")]);
    const err = await failure(whole.subarray(0, whole.length - 4));
    expect([err.line, err.problem]).toEqual([17, "truncated"]);
  });

  it("reports a file cut inside a message's header as truncated", async () => {
    const err = await failure(Buffer.concat([good("a"), Buffer.from("From MAILER-DAEMON Mon Jan  1 00:00:00 2024\nX-Gmail-Labels: Inbox\r\nSubject: cut\r\n")]));
    expect([err.line, err.problem]).toEqual([9, "truncated"]);
  });

  it("refuses a message over the size limit without holding it", async () => {
    const parser = new MboxParser({ maxMessageBytes: 1000 });
    parser.push(Buffer.from("From - Mon Jan  1 00:00:00 2024\nSubject: big\n\n"));
    expect(() => parser.push(Buffer.alloc(2000, 0x61))).toThrow(expect.objectContaining({ problem: "too_large", line: 1 }));
  });
});

describe("the writer on a stream whose write fails", () => {
  /** A stream like a file on a full disk: writes past `okChunks` fail with ENOSPC, a tick later. */
  const failingStream = (okChunks: number) => {
    let n = 0;
    return new Writable({
      highWaterMark: 16, // every entry is over it: each write waits for its own entry
      write(_chunk, _enc, cb) {
        const fail = ++n > okChunks;
        setImmediate(() => cb(fail ? Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }) : null));
      },
    });
  };
  const entry = (i: number) => ({ raw: Buffer.from(`Subject: ${i}\r\n\r\nbody ${i}\r\n`), labels: ["Inbox"], internalDate: 0 });

  it("rejects the write that failed instead of waiting for a drain, and every write, flush and end after it", async () => {
    const out = failingStream(1);
    out.on("error", () => {});
    const writer = new MboxWriter(out);
    await writer.write(entry(1));
    const failed = await writer.write(entry(2)).then(() => undefined, (e: unknown) => e);
    expect(failed).toMatchObject({ code: "ENOSPC" });
    expect(out.destroyed).toBe(true);
    await expect(writer.write(entry(3))).rejects.toMatchObject({ code: "ENOSPC" });
    await expect(writer.flush()).rejects.toMatchObject({ code: "ENOSPC" });
    await expect(writer.end()).rejects.toMatchObject({ code: "ENOSPC" });
  });

  it("rejects concurrent writes queued behind the failed one (the stream destroyed under them)", async () => {
    const out = failingStream(0);
    out.on("error", () => {});
    const writer = new MboxWriter(out);
    const results = await Promise.allSettled([1, 2, 3, 4].map((i) => writer.write(entry(i))));
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected", "rejected"]);
    expect((results[0] as PromiseRejectedResult).reason).toMatchObject({ code: "ENOSPC" });
    await expect(writer.end()).rejects.toMatchObject({ code: "ENOSPC" });
  });

  it("still waits for the file on a healthy stream: flush and end resolve with every byte written", async () => {
    const file = path.join(dir, "healthy.mbox");
    const writer = new MboxWriter(createWriteStream(file, { highWaterMark: 16 }));
    for (let i = 0; i < 20; i++) await writer.write(entry(i));
    await writer.flush();
    await writer.end();
    expect((await readFile(file)).length).toBe(writer.bytesWritten);
    expect(await readAll(file)).toHaveLength(20);
  });
});
