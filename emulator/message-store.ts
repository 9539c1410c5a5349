/**
 * Taking a message into a mailbox: parse once, pick its thread and date, validate its labels,
 * and the search view of a stored message.
 */
import { randomUUID } from "node:crypto";
import { badRequest, notFound } from "./errors.ts";
import type { SearchTarget } from "./gmail-query.ts";
import type { Mailbox, StoredMessage } from "./mailbox.ts";
import { labelNames } from "./message-format.ts";
import { headerValue, parseMessage, type ParsedMessage } from "./mime.ts";

export interface IngestOptions {
  /** The labels, or a function of the parsed message that picks them. */
  labelIds: string[] | ((parsed: ParsedMessage) => string[]);
  /** `receivedTime` uses the clock, `dateHeader` the message's Date header. */
  internalDateSource?: "receivedTime" | "dateHeader";
  internalDate?: number;
  threadId?: string;
  now: number;
}

export function checkLabels(user: Mailbox, labelIds: string[]): void {
  for (const id of labelIds) if (!user.labels.has(id)) throw badRequest(`Invalid label: ${id}`);
}

export function checkThread(user: Mailbox, threadId: unknown): string | undefined {
  if (threadId === undefined || threadId === null || threadId === "") return undefined;
  const id = String(threadId);
  for (const m of user.messages.values()) if (m.threadId === id) return id;
  throw notFound();
}

function dateFromHeader(parsed: ParsedMessage): number | undefined {
  const value = headerValue(parsed.headers, "Date");
  const at = value ? Date.parse(value) : Number.NaN;
  return Number.isNaN(at) ? undefined : at;
}

export async function ingest(user: Mailbox, raw: Buffer, opts: IngestOptions): Promise<StoredMessage> {
  if (Array.isArray(opts.labelIds)) checkLabels(user, opts.labelIds);
  const parsed = await parseMessage(raw);
  const labelIds = Array.isArray(opts.labelIds) ? opts.labelIds : opts.labelIds(parsed);
  const internalDate =
    opts.internalDate ??
    (opts.internalDateSource === "dateHeader" ? dateFromHeader(parsed) ?? opts.now : opts.now);
  return user.add(raw, parsed, labelIds, internalDate, opts.threadId);
}

/**
 * What Gmail adds to a message it sends: From (the user), Date and Message-ID when missing.
 * A complete message is kept byte for byte.
 */
export function completeOutgoing(raw: Buffer, user: Mailbox, now: number): Buffer {
  const headEnd = raw.indexOf("\r\n\r\n") >= 0 ? raw.indexOf("\r\n\r\n") : raw.indexOf("\n\n");
  const head = (headEnd >= 0 ? raw.subarray(0, headEnd) : raw).toString("latin1");
  const has = (name: string) => new RegExp(`^${name}:`, "im").test(head);
  const extra: string[] = [];
  if (!has("From")) extra.push(`From: ${user.email}`);
  if (!has("Date")) extra.push(`Date: ${new Date(now).toUTCString().replace("GMT", "+0000")}`);
  if (!has("Message-ID")) extra.push(`Message-ID: <${randomUUID()}@mail.gmail.com>`);
  return extra.length ? Buffer.concat([Buffer.from(`${extra.join("\r\n")}\r\n`), raw]) : raw;
}

/** True when the user is among the message's recipients (a message to oneself lands in INBOX). */
export function addressedTo(parsed: ParsedMessage, email: string): boolean {
  const rcpt = ["To", "Cc", "Bcc"].map((h) => headerValue(parsed.headers, h) ?? "").join(",").toLowerCase();
  return rcpt.includes(email.toLowerCase());
}

const searchCache = new WeakMap<StoredMessage, Omit<SearchTarget, "labelIds" | "labelNames">>();

export function searchTarget(user: Mailbox, message: StoredMessage): SearchTarget {
  let fixed = searchCache.get(message);
  if (!fixed) {
    const h = (name: string) => (headerValue(message.parsed.headers, name) ?? "").toLowerCase();
    fixed = {
      from: h("From"),
      to: h("To"),
      cc: h("Cc"),
      bcc: h("Bcc"),
      deliveredTo: h("Delivered-To"),
      subject: h("Subject"),
      text: message.parsed.text.toLowerCase(),
      internalDate: message.internalDate,
      messageId: h("Message-ID").replace(/^<|>$/g, ""),
      attachmentNames: message.parsed.attachmentNames.map((n) => n.toLowerCase()),
      hasAttachment: message.parsed.hasAttachment,
      size: message.raw.length,
    };
    searchCache.set(message, fixed);
  }
  return { ...fixed, labelIds: message.labelIds, labelNames: labelNames(user, message) };
}
