/**
 * Gmail's Message resource in each format: minimal, full, raw and metadata.
 */
import { badRequest } from "./errors.ts";
import type { Mailbox, StoredMessage } from "./mailbox.ts";
import type { Header, ParsedPart } from "./mime.ts";

export type Format = "minimal" | "full" | "raw" | "metadata";

export function parseFormat(value: string | undefined): Format {
  const format = (value ?? "full").toLowerCase();
  if (format === "minimal" || format === "full" || format === "raw" || format === "metadata") return format;
  throw badRequest(`Invalid value at 'format' (${value})`);
}

/** Gmail's base64url: URL-safe alphabet, padding kept. */
export function base64url(data: Buffer): string {
  return data.toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

/** Attachment ids name the message and part so attachments.get can find the bytes. */
export function attachmentId(messageId: string, partId: string): string {
  return `ANGjdJ${base64url(Buffer.from(`${messageId}:${partId}`)).replace(/=+$/, "")}`;
}

export function parseAttachmentId(id: string): { messageId: string; partId: string } | undefined {
  if (!id.startsWith("ANGjdJ")) return undefined;
  const [messageId, partId] = Buffer.from(id.slice(6), "base64url").toString("utf8").split(":");
  return messageId && partId !== undefined ? { messageId, partId } : undefined;
}

export function findPart(part: ParsedPart, partId: string): ParsedPart | undefined {
  if (part.partId === partId) return part;
  for (const child of part.parts ?? []) {
    const found = findPart(child, partId);
    if (found) return found;
  }
  return undefined;
}

function partJson(messageId: string, part: ParsedPart): Record<string, unknown> {
  let body: Record<string, unknown>;
  if (!part.data) body = { size: 0 };
  else if (part.isAttachment) body = { attachmentId: attachmentId(messageId, part.partId), size: part.data.length };
  else body = part.data.length ? { size: part.data.length, data: base64url(part.data) } : { size: 0 };
  const json: Record<string, unknown> = {
    partId: part.partId,
    mimeType: part.mimeType,
    filename: part.filename,
    headers: part.headers,
    body,
  };
  if (part.parts) json.parts = part.parts.map((p) => partJson(messageId, p));
  return json;
}

function metadataHeaders(headers: Header[], wanted: string[]): Header[] {
  if (wanted.length === 0) return headers;
  const lower = wanted.map((w) => w.toLowerCase());
  return headers.filter((h) => lower.includes(h.name.toLowerCase()));
}

export function messageJson(
  message: StoredMessage,
  format: Format,
  wantedHeaders: string[] = [],
): Record<string, unknown> {
  const json: Record<string, unknown> = {
    id: message.id,
    threadId: message.threadId,
  };
  // Gmail leaves `labelIds` out for a message with no labels.
  if (message.labelIds.length) json.labelIds = [...message.labelIds];
  json.snippet = message.parsed.snippet;
  if (format === "full") json.payload = partJson(message.id, message.parsed.payload);
  if (format === "metadata") {
    const root = message.parsed.payload;
    json.payload = { mimeType: root.mimeType, headers: metadataHeaders(root.headers, wantedHeaders) };
  }
  json.sizeEstimate = message.raw.length;
  if (format === "raw") json.raw = base64url(message.raw);
  json.historyId = String(message.historyId);
  json.internalDate = String(message.internalDate);
  return json;
}

/** The short `{id, threadId, labelIds}` answer of send, insert, import and modify. */
export function messageRef(message: StoredMessage): Record<string, unknown> {
  return { id: message.id, threadId: message.threadId, labelIds: [...message.labelIds] };
}

export function labelNames(user: Mailbox, message: StoredMessage): string[] {
  return message.labelIds.map((id) => (user.labels.get(id)?.name ?? id).toLowerCase());
}
