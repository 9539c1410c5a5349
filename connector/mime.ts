/**
 * MIME for flows, never by hand: messages are parsed with postal-mime and built
 * with nodemailer's MailComposer. Also the `{{field}}` templates of a
 * destination's mapping and the deterministic Message-ID of a delivery.
 */
import { createHash } from "node:crypto";
import PostalMime, { type Address } from "postal-mime";
import MailComposer from "nodemailer/lib/mail-composer";
import type Mail from "nodemailer/lib/mailer";

/** An attachment of a source record; `data` only when the export asked for content. */
export interface RecordAttachment {
  filename: string;
  mimeType: string;
  size: number;
  attachmentId?: string;
  data?: Buffer;
}

/** The header fields flows read from a message (empty strings when absent). */
export interface MailHeaders {
  messageId?: string;
  from: string;
  to: string;
  cc: string;
  subject: string;
  date: string;
  references?: string;
}

/** What a parsed message offers to flows. */
export interface ParsedMail extends MailHeaders {
  text: string;
  html?: string;
  inReplyTo?: string;
  attachments: RecordAttachment[];
}

function addresses(list: Address | Address[] | undefined): string {
  const all = list === undefined ? [] : Array.isArray(list) ? list : [list];
  return all
    .flatMap((a) => (a.group ? a.group : [a]))
    .map((m) => (m.name ? `${m.name} <${m.address}>` : (m.address ?? "")))
    .join(", ");
}

/** Parse RFC 5322 bytes (a Gmail `raw` message decoded from base64url). */
export async function parseMail(raw: Buffer): Promise<ParsedMail> {
  const email = await PostalMime.parse(raw, { attachmentEncoding: "arraybuffer" });
  return {
    messageId: email.messageId,
    from: addresses(email.from),
    to: addresses(email.to),
    cc: addresses(email.cc),
    subject: email.subject ?? "",
    date: email.date ?? "",
    text: email.text ?? "",
    html: email.html,
    inReplyTo: email.inReplyTo,
    references: email.references,
    attachments: email.attachments.map((a) => {
      const data = typeof a.content === "string" ? Buffer.from(a.content) : Buffer.from(a.content as ArrayBuffer);
      return { filename: a.filename ?? "attachment", mimeType: a.mimeType, size: data.length, data };
    }),
  };
}

/** A message to compose. `messageId` is kept as given (with angle brackets). */
export interface ComposeInput {
  from?: string;
  to: string;
  cc?: string;
  subject: string;
  text: string;
  messageId: string;
  inReplyTo?: string;
  references?: string[];
  attachments?: Array<{ filename: string; mimeType: string; data: Buffer }>;
}

/** Build RFC 5322 bytes with MailComposer. */
export function composeMail(input: ComposeInput): Promise<Buffer> {
  const options: Mail.Options = {
    from: input.from,
    to: input.to,
    cc: input.cc || undefined,
    subject: input.subject,
    text: input.text,
    messageId: input.messageId,
    inReplyTo: input.inReplyTo,
    references: input.references,
    attachments: input.attachments?.map((a) => ({ filename: a.filename, contentType: a.mimeType, content: a.data })),
  };
  return new Promise((resolve, reject) => {
    new MailComposer(options).compile().build((err, message) => (err ? reject(err) : resolve(message)));
  });
}

/** The fields a mapping template may name. */
export const TEMPLATE_FIELDS = ["from", "to", "subject", "snippet", "date", "text"] as const;
export type TemplateFields = Record<(typeof TEMPLATE_FIELDS)[number], string>;

/** Replace `{{field}}` by the record's field; unknown names are left as written. */
export function renderTemplate(template: string, fields: TemplateFields): string {
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, name: string) =>
    (TEMPLATE_FIELDS as readonly string[]).includes(name) ? fields[name as keyof TemplateFields] : whole,
  );
}

/**
 * A Message-ID that depends only on `parts` (flow, destination, source message),
 * so a retried delivery can be found in the destination mailbox with `rfc822msgid:`.
 */
export function deterministicMessageId(parts: readonly string[], domain = "mailbridge.local"): string {
  const hash = createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 40);
  return `<mb.${hash}@${domain}>`;
}

/** Gmail's base64url `raw` field to bytes, and back. */
export const fromBase64Url = (raw: string): Buffer => Buffer.from(raw, "base64url");
export const toBase64Url = (bytes: Buffer): string => bytes.toString("base64url");
