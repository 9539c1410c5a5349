/**
 * Gmail as a flow source: which messages to export (a query and labels, paged;
 * or the messages added since a history checkpoint) and each message as an
 * export record in the chosen format, with attachments as metadata or content.
 * Every call goes through the caller's `call` (the server's choke point).
 */
import type { gmail_v1 } from "@googleapis/gmail";
import { Splitter, type MimeNode } from "@zone-eu/mailsplit";
import type { GmailCallOptions } from "./gmail-client.ts";
import type { GmailMethod } from "./gmail-methods.ts";
import { fromBase64Url, parseMail, type MailHeaders, type RecordAttachment } from "./mime.ts";
import { labelsFromTakeout } from "./takeout-labels.ts";

/** Runs one Gmail call for a fixed connection; `fn` must pass `options` on. */
export type GmailCaller = <T>(method: GmailMethod, fn: (gmail: gmail_v1.Gmail, options: GmailCallOptions) => Promise<T>) => Promise<T>;

export type ExportFormat = "full" | "metadata" | "minimal" | "raw";
export type AttachmentMode = "none" | "metadata" | "content";

/** A source's export settings (defaults applied by the schema). */
export interface ExportSpec {
  query?: string;
  labelIds?: string[];
  format: ExportFormat;
  attachments: AttachmentMode;
  /** At most this many messages; absent: no limit (a whole-mailbox backup). */
  maxMessages?: number;
  /** Spam and trash too (a backup takes the whole mailbox, as Takeout does). @defaultValue false */
  includeSpamTrash?: boolean;
  incremental: boolean;
}

/** One exported message. Header fields are empty strings in `minimal`. */
export interface ExportRecord extends MailHeaders {
  id: string;
  threadId: string;
  labelIds: string[];
  snippet: string;
  historyId?: string;
  internalDate?: string;
  /** The text body (full and raw formats). */
  text?: string;
  /** The source bytes (raw format). */
  raw?: Buffer;
  attachments: RecordAttachment[];
  /**
   * An archive's record: its user labels by name (`labelIds` holds its system labels), found or
   * created by name in the mailbox it is restored into.
   */
  userLabelNames?: string[];
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** An RFC 5322 date-time in UTC: `Wed, 05 Jun 2019 12:30:00 +0000`. */
export function rfc5322Date(date: Date): string {
  const p2 = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[date.getUTCDay()]}, ${p2(date.getUTCDate())} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ${p2(date.getUTCHours())}:${p2(date.getUTCMinutes())}:${p2(date.getUTCSeconds())} +0000`;
}

/**
 * The message with a `Date:` header of `date` before its first line, ending as that line ends.
 * Gmail's import takes a message's internal date only from its Date header
 * (`internalDateSource=dateHeader`): a message without one would get the time of the restore.
 */
export function withDateHeader(raw: Buffer, date: Date): Buffer {
  const lf = raw.indexOf(0x0a);
  const eol = lf > 0 && raw[lf - 1] === 0x0d ? "\r\n" : "\n";
  return Buffer.concat([Buffer.from(`Date: ${rfc5322Date(date)}${eol}`, "latin1"), raw]);
}

/**
 * A message read from an archive as an export record: raw bytes unchanged, headers and text
 * parsed, system label ids and user label names from its Takeout label names. A message
 * without a Date header gets one with the archive's date (its `From ` line), the one change
 * to its bytes, so that the restore keeps its date (issue 11: "internalDateSource=dateHeader
 * or the archive's date").
 */
export async function archiveRecord(id: string, m: { raw: Buffer; labels: string[]; date: Date }, attachments: AttachmentMode = "metadata"): Promise<ExportRecord> {
  const parsed = await parseMail(m.raw);
  const raw = parsed.date ? m.raw : withDateHeader(m.raw, m.date);
  const mail = parsed.date ? parsed : { ...parsed, date: m.date.toISOString() };
  const { systemLabelIds, userLabelNames } = labelsFromTakeout(m.labels);
  return {
    ...mail,
    id,
    threadId: "",
    labelIds: systemLabelIds,
    userLabelNames,
    snippet: mail.text.slice(0, 200),
    internalDate: String(m.date.getTime()),
    raw,
    attachments: attachments === "none" ? [] : mail.attachments.map((a) => (attachments === "content" ? a : { ...a, data: undefined })),
  };
}

/** Gmail's page size ceiling for messages.list. */
const PAGE = 500;

/** Message ids matching the spec, newest first, at most `maxMessages`, a page at a time. */
export async function* listMessageIds(call: GmailCaller, spec: Pick<ExportSpec, "query" | "labelIds" | "maxMessages">): AsyncGenerator<string[]> {
  for await (const page of listMessagePages(call, spec)) yield page.ids;
}

/** One page of a listing, with the token of the page after it (absent on the last page). */
export interface MessagePage {
  ids: string[];
  nextPageToken?: string;
  /** Messages listed before and in this page. */
  listed: number;
}

/**
 * Pages of message ids matching the spec, each with the token that lists the pages after it:
 * a run resumes a listing from a checkpointed token (`from`) instead of from the start.
 */
export async function* listMessagePages(
  call: GmailCaller,
  spec: Pick<ExportSpec, "query" | "labelIds" | "maxMessages" | "includeSpamTrash">,
  from: { pageToken?: string; listed?: number } = {},
): AsyncGenerator<MessagePage> {
  let pageToken = from.pageToken;
  let listed = from.listed ?? 0;
  const max = spec.maxMessages ?? Infinity;
  while (listed < max) {
    const res = await call("messages.list", (g, options) =>
      g.users.messages.list(
        {
          userId: "me",
          q: spec.query || undefined,
          labelIds: spec.labelIds?.length ? spec.labelIds : undefined,
          includeSpamTrash: spec.includeSpamTrash || undefined,
          maxResults: Math.min(PAGE, max - listed),
          pageToken,
        },
        options,
      ),
    );
    const ids = (res.data.messages ?? []).map((m) => m.id!).slice(0, max - listed);
    listed += ids.length;
    pageToken = res.data.nextPageToken ?? undefined;
    if (ids.length) yield { ids, nextPageToken: listed < max ? pageToken : undefined, listed };
    if (!pageToken) return;
  }
}

/** The mailbox's current historyId: the checkpoint a full export starts the next incremental run from. */
export async function currentHistoryId(call: GmailCaller): Promise<string> {
  const res = await call("getProfile", (g, options) => g.users.getProfile({ userId: "me" }, options));
  return String(res.data.historyId);
}

/** One page of history.list's added messages, and the mailbox's historyId as that answer gave it. */
export interface AddedPage {
  /** Ids of messages added (oldest first; deduplicated within the page only). */
  ids: string[];
  historyId: string;
}

/**
 * Messages added since `startHistoryId`, a page of history at a time (bounded memory: the
 * caller keeps what it needs). The last page's `historyId` is where the next run starts. Google
 * answers 404 for a too-old start: the caller resyncs in full.
 */
export async function* addedPages(call: GmailCaller, startHistoryId: string, labelId?: string): AsyncGenerator<AddedPage> {
  let pageToken: string | undefined;
  let historyId = startHistoryId;
  do {
    const res = await call("history.list", (g, options) =>
      g.users.history.list({ userId: "me", startHistoryId, historyTypes: ["messageAdded"], labelId, maxResults: PAGE, pageToken }, options),
    );
    const ids = new Set<string>();
    for (const h of res.data.history ?? []) for (const a of h.messagesAdded ?? []) if (a.message?.id) ids.add(a.message.id);
    historyId = String(res.data.historyId ?? historyId);
    pageToken = res.data.nextPageToken ?? undefined;
    yield { ids: [...ids], historyId };
  } while (pageToken);
}

type Part = gmail_v1.Schema$MessagePart;

function header(part: Part | undefined, name: string): string {
  return part?.headers?.find((h) => h.name?.toLowerCase() === name.toLowerCase())?.value ?? "";
}

function* walk(part: Part | undefined): Generator<Part> {
  if (!part) return;
  yield part;
  for (const p of part.parts ?? []) yield* walk(p);
}

/** Fetch one message as an export record. */
export async function fetchRecord(call: GmailCaller, id: string, spec: Pick<ExportSpec, "format" | "attachments">): Promise<ExportRecord> {
  const res = await call("messages.get", (g, options) => g.users.messages.get({ userId: "me", id, format: spec.format }, options));
  const m = res.data;
  const base = { id: m.id!, threadId: m.threadId!, labelIds: m.labelIds ?? [], snippet: m.snippet ?? "", historyId: m.historyId ?? undefined, internalDate: m.internalDate ?? undefined };
  if (spec.format === "raw") {
    const raw = fromBase64Url(m.raw ?? "");
    const mail = await parseMail(raw);
    const attachments = spec.attachments === "none" ? [] : mail.attachments.map((a) => (spec.attachments === "content" ? a : { ...a, data: undefined }));
    return { ...base, ...mail, raw, attachments };
  }
  const p = m.payload ?? undefined;
  const record: ExportRecord = {
    ...base,
    messageId: header(p, "Message-ID") || undefined,
    from: header(p, "From"),
    to: header(p, "To"),
    cc: header(p, "Cc"),
    subject: header(p, "Subject"),
    date: header(p, "Date"),
    references: header(p, "References") || undefined,
    attachments: [],
  };
  if (spec.format !== "full") return record;
  const parts = [...walk(p)];
  const text = parts.find((x) => x.mimeType === "text/plain" && !x.filename && x.body?.data);
  record.text = text ? fromBase64Url(text.body!.data!).toString("utf8") : "";
  if (spec.attachments === "none") return record;
  for (const part of parts) {
    if (!part.filename || !part.body) continue;
    const a: RecordAttachment = { filename: part.filename, mimeType: part.mimeType ?? "application/octet-stream", size: part.body.size ?? 0, attachmentId: part.body.attachmentId ?? undefined };
    if (spec.attachments === "content") {
      if (part.body.data) a.data = fromBase64Url(part.body.data);
      else if (part.body.attachmentId) {
        const att = await call("attachments.get", (g, options) => g.users.messages.attachments.get({ userId: "me", messageId: id, id: part.body!.attachmentId! }, options));
        a.data = fromBase64Url(att.data.data ?? "");
      }
    }
    record.attachments.push(a);
  }
  return record;
}

/**
 * The Message-ID header of RFC 5322 bytes (as Gmail's `metadata` format gives it), or undefined.
 * Only the top-level header block is read (mailsplit, mailparser's splitter): bodies are not
 * decoded, so a large attachment costs no parse.
 */
export async function rawMessageId(raw: Buffer): Promise<string | undefined> {
  const splitter = new Splitter({ ignoreEmbedded: true });
  splitter.end(raw);
  // The first node is the message itself; leaving the loop destroys the splitter.
  for await (const chunk of splitter) {
    if (chunk.type !== "node") continue;
    const headers = (chunk as MimeNode).headers;
    return (headers && headers.getFirst("message-id")) || undefined;
  }
  return undefined;
}

/**
 * A message's raw bytes with its ids, labels and internal date, and nothing parsed: all an
 * archive needs (one call, and no copy of its attachments in memory). With `messageId`, its
 * Message-ID header too: all a copy (insert or import) and its ledger entry need, so a flow that
 * only copies fetches each message once, not as metadata and then as raw.
 */
export async function fetchRawRecord(call: GmailCaller, id: string, opts: { messageId?: boolean } = {}): Promise<ExportRecord> {
  const res = await call("messages.get", (g, options) => g.users.messages.get({ userId: "me", id, format: "raw" }, options));
  const m = res.data;
  const raw = fromBase64Url(m.raw ?? "");
  return {
    id: m.id!,
    threadId: m.threadId!,
    labelIds: m.labelIds ?? [],
    snippet: m.snippet ?? "",
    historyId: m.historyId ?? undefined,
    internalDate: m.internalDate ?? undefined,
    raw,
    messageId: opts.messageId ? await rawMessageId(raw) : undefined,
    from: "",
    to: "",
    cc: "",
    subject: "",
    date: "",
    attachments: [],
  };
}

/** The source bytes of a message (format raw), for insert and import destinations. */
export async function fetchRaw(call: GmailCaller, id: string): Promise<Buffer> {
  const res = await call("messages.get", (g, options) => g.users.messages.get({ userId: "me", id, format: "raw" }, options));
  return fromBase64Url(res.data.raw ?? "");
}

/** Find messages by a Gmail query, with their headers: the lookup of SPEC §2. */
export async function lookupMessages(call: GmailCaller, query: string, maxResults: number) {
  const res = await call("messages.list", (g, options) => g.users.messages.list({ userId: "me", q: query, maxResults }, options));
  return Promise.all(
    (res.data.messages ?? []).map(async ({ id }) => {
      const m = (await call("messages.get", (g, options) => g.users.messages.get({ userId: "me", id: id!, format: "metadata", metadataHeaders: ["From", "To", "Subject", "Date"] }, options))).data;
      const p = m.payload ?? undefined;
      return { id: m.id!, threadId: m.threadId!, from: header(p, "From"), to: header(p, "To"), subject: header(p, "Subject"), date: header(p, "Date"), snippet: m.snippet ?? "" };
    }),
  );
}
