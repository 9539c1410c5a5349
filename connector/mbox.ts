/**
 * mboxrd (RFC 4155, with mboxrd's `>From ` quoting) over raw bytes: a writer of
 * one entry per message and a streaming reader. Messages stay Buffers end to end
 * (no text decoding), so 8-bit content and CRLF line ends come back byte-equal.
 *
 * Hand-written glue, on purpose: the npm readers (mbox-reader 1.2.0, node-mbox
 * 2.0.0) split on `\r?\n` and join with `\n` (a CRLF message does not come back
 * byte-equal), undo only one level of quoting or none, report no line numbers
 * and no truncation, and none writes.
 *
 * An entry is `From <id>@xxx <asctime, UTC>\n`, then `X-Gmail-Labels: <names>`
 * (ending as the message's first line ends), then the message with every line
 * matching `/^>*From /` given one more `>`, then `\n`. The reader removes
 * exactly that: the final `\n` of the entry (and a `\r` before it when the
 * entry ends in a blank CRLF line, as other tools write), the quoting, and the
 * label line when it is the first line (or the second, after Takeout's
 * `X-GM-THRID`). Known limit: a message that itself ends in `\n\r` loses that `\r`.
 */
import type { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import libmime from "libmime";
import { formatLabelsHeader, parseLabelsHeader } from "./takeout-labels.ts";

export { takeoutLabelNames, labelsFromTakeout, TAKEOUT_SYSTEM_LABELS } from "./takeout-labels.ts";

/** Largest message the reader holds (Gmail's import limit is 50 MB). @defaultValue 64 MiB */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** One message to write. */
export interface MboxEntryInput {
  /** The message exactly as Gmail's `format=raw` gives it. */
  raw: Buffer;
  /** Label names as Takeout writes them (see `takeoutLabelNames`). */
  labels: readonly string[];
  /** Gmail's internalDate (ms since the epoch, or a Date); the `From ` line keeps whole seconds. */
  internalDate: Date | number;
  /** Goes before `@xxx` in the `From ` line (Takeout puts the thread id there); without it the sender is `MAILER-DAEMON`. */
  id?: string;
}

/** One message read back. */
export interface MboxMessage {
  raw: Buffer;
  labels: string[];
  /** The `From ` line's date (whole seconds, UTC unless the line gives a zone). */
  date: Date;
  /** The `From ` line's sender field. */
  sender: string;
  /** Line number (1-based) and byte offset of the message's `From ` line. */
  line: number;
  offset: number;
  /** Where the next message starts: resume with `readMbox(stream from endOffset, {firstLine: endLine})`. */
  endOffset: number;
  endLine: number;
}

export type MboxProblem = "malformed" | "truncated" | "too_large";

/** The input is not an mbox this reader accepts; `line` is 1-based. */
export class MboxFormatError extends Error {
  constructor(
    readonly line: number,
    readonly problem: MboxProblem,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = "MboxFormatError";
  }
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const LF = 0x0a;
const CR = 0x0d;
const GT = 0x3e;
const FROM_ = Buffer.from("From ");

/** `Mon Jan  1 00:00:00 2024` in UTC (C's asctime, as RFC 4155 has it). */
export function asctime(date: Date | number): string {
  const d = new Date(date);
  const p2 = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, " ")} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

function startsWithFrom(buf: Buffer, at: number): boolean {
  let i = at;
  while (i < buf.length && buf[i] === GT) i++;
  return buf.length - i >= 5 && buf.compare(FROM_, 0, 5, i, i + 5) === 0;
}

/** One mboxrd entry for a message: its `From ` line, its label line, the quoted bytes and the closing `\n`. */
export function mboxEntry(input: MboxEntryInput): Buffer {
  const { raw } = input;
  const id = input.id?.replace(/[^\x21-\x7e]/g, "_");
  const sender = id ? `${id}@xxx` : "MAILER-DAEMON";
  const firstLf = raw.indexOf(LF);
  const eol = firstLf > 0 && raw[firstLf - 1] === CR ? "\r\n" : "\n";
  const parts: Buffer[] = [
    Buffer.from(`From ${sender} ${asctime(input.internalDate)}\n`, "latin1"),
    Buffer.from(`X-Gmail-Labels: ${formatLabelsHeader(input.labels)}${eol}`, "utf8"),
  ];
  let start = 0;
  for (let lineStart = 0; lineStart < raw.length; ) {
    if (startsWithFrom(raw, lineStart)) {
      parts.push(raw.subarray(start, lineStart), Buffer.from(">"));
      start = lineStart;
    }
    const lf = raw.indexOf(LF, lineStart);
    if (lf < 0) break;
    lineStart = lf + 1;
  }
  parts.push(raw.subarray(start), Buffer.from("\n"));
  return Buffer.concat(parts);
}

/**
 * Writes entries to a stream, honouring backpressure. `bytesWritten` counts what it was given;
 * after `flush()` all of it has reached the file (the size to checkpoint for a resume).
 *
 * A write error is final: the write it belongs to (or the next one) rejects with it, and so do
 * every later `write`, `flush` and `end`. None waits for a `'drain'`, which a stream destroyed
 * by its error never emits.
 */
export class MboxWriter {
  bytesWritten = 0;
  messages = 0;
  private last: Promise<void> = Promise.resolve();
  private error: Error | undefined;
  constructor(private readonly out: Writable) {}

  async write(input: MboxEntryInput): Promise<void> {
    if (this.error) throw this.error;
    const entry = mboxEntry(input);
    this.bytesWritten += entry.length;
    this.messages++;
    let ok = true;
    const written = new Promise<void>((resolve, reject) => {
      ok = this.out.write(entry, (err) => {
        if (!err) return resolve();
        this.error ??= err;
        reject(err);
      });
    });
    this.last = written;
    written.catch(() => {}); // reported by flush(), end() or the next write
    // Over the high-water mark: wait until this entry reached the file. Its callback always comes
    // (with ERR_STREAM_DESTROYED once an earlier write failed), where a 'drain' may never.
    if (!ok) await written;
  }

  /** Resolves once every entry written so far has been handed to the file (rejects with a write error). */
  async flush(): Promise<void> {
    await this.last;
    if (this.error) throw this.error;
  }

  /** End the stream and wait until everything is flushed (rejects with the stream's error). */
  async end(): Promise<void> {
    if (this.error) throw this.error;
    if (!this.out.writableEnded) this.out.end();
    await finished(this.out);
    if (this.error) throw this.error;
  }
}

const FROM_LINE =
  /^From (\S+) +(?:(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat),? +)?(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d{1,2}) +(\d{1,2}):(\d{2})(?::(\d{2}))? +(?:([+-]\d{4}|UTC|GMT|[A-Z]{3,4}) +)?(\d{4})(?: +([+-]\d{4}))? *\r?\n?$/;

/** Sender and date of a `From ` line (asctime; Takeout's `+0000` before the year; a zone after it). */
export function parseFromLine(line: string): { sender: string; date: Date } | undefined {
  const m = FROM_LINE.exec(line);
  if (!m) return undefined;
  const [, sender, mon, day, hh, mm, ss, zone1, year, zone2] = m;
  const zone = [zone1, zone2].find((z) => z && /^[+-]\d{4}$/.test(z));
  const offsetMin = zone ? (zone[0] === "-" ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3))) : 0;
  const ms = Date.UTC(Number(year), MONTHS.indexOf(mon!), Number(day), Number(hh), Number(mm), Number(ss ?? 0)) - offsetMin * 60_000;
  if (Number.isNaN(ms) || Number(day) > 31 || Number(hh) > 23 || Number(mm) > 59 || Number(ss ?? 0) > 60) return undefined;
  return { sender: sender!, date: new Date(ms) };
}

/** A label name may come as RFC 2047 encoded-words (other tools write non-ASCII names so). */
function decodeWords(name: string): string {
  if (!name.includes("=?")) return name;
  try {
    return libmime.decodeWords(name);
  } catch {
    return name;
  }
}

const isBlank = (line: Buffer) => line.length === 0 || (line.length === 1 && line[0] === LF) || (line.length === 2 && line[0] === CR && line[1] === LF);
const isContinuation = (line: Buffer) => line.length > 0 && (line[0] === 0x20 || line[0] === 0x09);
const headerIs = (line: Buffer, name: string) =>
  line.length > name.length && line[name.length] === 0x3a && line.toString("latin1", 0, name.length).toLowerCase() === name;

interface Current {
  line: number;
  offset: number;
  sender: string;
  date: Date;
  parts: Buffer[];
  size: number;
  tail: Buffer;
  inHeaders: boolean;
  /** Stripping the writer's (or Takeout's) leading lines: 0 first line, "thrid" after X-GM-THRID, "labels" in the label header, "done". */
  phase: 0 | "thrid" | "labels" | "done";
  held: Buffer[];
  labelHeader: Buffer[];
  /** A label header found further down (another tool's file): read, not stripped. */
  foreignLabels: Buffer[] | undefined;
  foreignOpen: boolean;
}

export interface MboxParserOptions {
  /** @defaultValue {@link DEFAULT_MAX_MESSAGE_BYTES} */
  maxMessageBytes?: number;
  /** Keep each message's bytes (false: validate and count only, in constant memory). @defaultValue true */
  keepBytes?: boolean;
  /** Line number and byte offset of the input's first byte, when reading from the middle of a file. */
  firstLine?: number;
  firstOffset?: number;
}

/**
 * Push-style mboxrd parser: `push(chunk)` and `end()` return the messages they completed and
 * throw {@link MboxFormatError} on malformed or truncated input.
 */
export class MboxParser {
  private lineNo: number;
  private offset: number;
  private partial: Buffer[] = [];
  private partialSize = 0;
  private current: Current | undefined;
  private readonly max: number;
  private readonly keep: boolean;
  /** Messages completed so far. */
  count = 0;

  constructor(opts: MboxParserOptions = {}) {
    this.lineNo = opts.firstLine ?? 1;
    this.offset = opts.firstOffset ?? 0;
    this.max = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.keep = opts.keepBytes ?? true;
  }

  push(chunk: Buffer): MboxMessage[] {
    const out: MboxMessage[] = [];
    let start = 0;
    for (let lf = chunk.indexOf(LF); lf >= 0; lf = chunk.indexOf(LF, start)) {
      const piece = chunk.subarray(start, lf + 1);
      const line = this.partial.length ? Buffer.concat([...this.partial, piece]) : piece;
      this.partial = [];
      this.partialSize = 0;
      this.line(line, out);
      start = lf + 1;
    }
    if (start < chunk.length) {
      this.partial.push(chunk.subarray(start));
      this.partialSize += chunk.length - start;
      // A line that never ends counts against its message, so memory stays bounded.
      if (this.partialSize + (this.current?.size ?? 0) > this.max) this.tooLarge();
    }
    return out;
  }

  end(): MboxMessage[] {
    if (this.partial.length) {
      throw new MboxFormatError(this.lineNo, "truncated", `the archive ends in the middle of a line${this.current ? ` (message of line ${this.current.line})` : ""}: it is truncated`);
    }
    const cur = this.current;
    if (cur && cur.inHeaders && (cur.size > 0 || cur.held.length || cur.labelHeader.length)) {
      throw new MboxFormatError(this.lineNo - 1, "truncated", `the message of line ${cur.line} ends inside its header: the archive is truncated`);
    }
    const out: MboxMessage[] = [];
    this.finish(out);
    return out;
  }

  private tooLarge(): never {
    throw new MboxFormatError(this.current?.line ?? this.lineNo, "too_large", `a message is larger than ${this.max} bytes`);
  }

  private line(line: Buffer, out: MboxMessage[]): void {
    const at = this.offset;
    const n = this.lineNo;
    this.offset += line.length;
    this.lineNo++;
    if (line.length >= 5 && line.compare(FROM_, 0, 5, 0, 5) === 0) {
      const from = parseFromLine(line.toString("latin1"));
      if (!from) throw new MboxFormatError(n, "malformed", "a line starts with 'From ' but is not a From line (From sender date): unquoted 'From ' in a message, or not an mbox");
      this.finish(out, at, n);
      this.current = { line: n, offset: at, ...from, parts: [], size: 0, tail: Buffer.alloc(0), inHeaders: true, phase: 0, held: [], labelHeader: [], foreignLabels: undefined, foreignOpen: false };
      return;
    }
    const cur = this.current;
    if (!cur) throw new MboxFormatError(n, "malformed", "an mbox starts with a From line (From sender date)");
    if (line[0] === GT && startsWithFrom(line, 0)) line = line.subarray(1);
    if (cur.inHeaders) {
      if (this.stripped(cur, line)) return;
      if (isBlank(line)) cur.inHeaders = false;
      if (cur.foreignOpen && isContinuation(line)) cur.foreignLabels!.push(line);
      else cur.foreignOpen = false;
      if (cur.inHeaders && !cur.labelHeader.length && !cur.foreignLabels && headerIs(line, "x-gmail-labels")) {
        cur.foreignLabels = [line];
        cur.foreignOpen = true;
      }
    }
    this.append(cur, line);
  }

  /** The leading label line (and Takeout's X-GM-THRID before it): true when `line` was taken off. */
  private stripped(cur: Current, line: Buffer): boolean {
    if (cur.phase === "done") return false;
    if (cur.phase === "labels" && isContinuation(line)) return cur.labelHeader.push(line), true;
    if (cur.phase === "thrid" && isContinuation(line)) return cur.held.push(line), true;
    if ((cur.phase === 0 || cur.phase === "thrid") && headerIs(line, "x-gmail-labels")) {
      cur.held = [];
      cur.phase = "labels";
      cur.labelHeader.push(line);
      return true;
    }
    if (cur.phase === 0 && headerIs(line, "x-gm-thrid")) {
      cur.phase = "thrid";
      cur.held.push(line);
      return true;
    }
    // Not ours: what was held back belongs to the message.
    cur.phase = "done";
    for (const h of cur.held.splice(0)) this.append(cur, h);
    return false;
  }

  private append(cur: Current, line: Buffer): void {
    cur.size += line.length;
    if (cur.size > this.max) this.tooLarge();
    if (this.keep) cur.parts.push(line);
    else cur.tail = line.length >= 3 ? line.subarray(-3) : Buffer.concat([cur.tail, line]).subarray(-3);
  }

  private finish(out: MboxMessage[], endOffset = this.offset, endLine = this.lineNo): void {
    const cur = this.current;
    this.current = undefined;
    if (!cur) return;
    if (cur.phase !== "done") for (const h of cur.held.splice(0)) this.append(cur, h);
    let raw = this.keep ? Buffer.concat(cur.parts, cur.size) : cur.tail;
    let cut = 0;
    if (raw.length && raw[raw.length - 1] === LF) {
      cut = 1;
      if (raw.length >= 3 && raw[raw.length - 2] === CR && raw[raw.length - 3] === LF) cut = 2;
    }
    raw = this.keep ? raw.subarray(0, raw.length - cut) : Buffer.alloc(0);
    const header = cur.labelHeader.length ? cur.labelHeader : (cur.foreignLabels ?? []);
    const value = Buffer.concat(header).toString("utf8").replace(/^[^:]*:/, "").replace(/\r?\n/g, "");
    this.count++;
    out.push({ raw, labels: parseLabelsHeader(value).map(decodeWords), date: cur.date, sender: cur.sender, line: cur.line, offset: cur.offset, endOffset, endLine });
  }
}

/**
 * Read an mboxrd stream message by message (any async iterable of Buffers: a file's
 * ReadStream, a request). Throws {@link MboxFormatError} with the line on bad or truncated input.
 */
export async function* readMbox(source: AsyncIterable<Buffer | string>, opts: MboxParserOptions = {}): AsyncGenerator<MboxMessage> {
  const parser = new MboxParser(opts);
  for await (const chunk of source) yield* parser.push(typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk);
  yield* parser.end();
}
