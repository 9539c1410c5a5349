/**
 * Reading mail: getProfile, messages.list (with `q`), messages.get in every format, and
 * attachments.get.
 */
import { badRequest, forbidden, notFound } from "./errors.ts";
import { all, first } from "./form.ts";
import type { GmailCall, GmailRoute } from "./gmail-pipeline.ts";
import { matches, parseQuery, reachesSpamTrash } from "./gmail-query.ts";
import type { Mailbox, StoredMessage } from "./mailbox.ts";
import { base64url, findPart, messageJson, parseAttachmentId, parseFormat } from "./message-format.ts";
import { searchTarget } from "./message-store.ts";
import { page } from "./paging.ts";
import { COST } from "./quota.ts";
import { hasMetadataScope, METHOD_SCOPES } from "./scopes.ts";

const USER = "/gmail/v1/users/:userId";

export function messageById(user: Mailbox, id: string): StoredMessage {
  if (!/^[0-9a-f]{1,24}$/i.test(id)) throw badRequest("Invalid id value");
  const message = user.messages.get(id.toLowerCase());
  if (!message) throw notFound();
  return message;
}

/** Newest first, as Gmail lists. */
export function newestFirst(a: StoredMessage, b: StoredMessage): number {
  return b.internalDate - a.internalDate || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

export function truthy(value: unknown): boolean {
  return first(value) === "true" || first(value) === "1";
}

/** Messages matching `q`, `labelIds` and `includeSpamTrash`, newest first. */
export function search(call: GmailCall, q: string | undefined, labelIds: string[], includeSpamTrash: boolean): StoredMessage[] {
  const query = q ? parseQuery(q) : undefined;
  const spamTrash = includeSpamTrash || (query ? reachesSpamTrash(query) : false) || labelIds.some((l) => l === "SPAM" || l === "TRASH");
  const ctx = { now: call.state.now(), me: call.user.email };
  const found: StoredMessage[] = [];
  for (const message of call.user.messages.values()) {
    if (!spamTrash && message.labelIds.some((l) => l === "SPAM" || l === "TRASH")) continue;
    if (!labelIds.every((l) => message.labelIds.includes(l))) continue;
    if (query && !matches(query, searchTarget(call.user, message), ctx)) continue;
    found.push(message);
  }
  return found.sort(newestFirst);
}

function list(call: GmailCall) {
  const q = first(call.query.q);
  if (q && hasMetadataScope(call.token.scopes)) throw forbidden("Metadata scope does not support 'q' parameter");
  const found = search(call, q, all(call.query.labelIds), truthy(call.query.includeSpamTrash));
  const { items, nextPageToken } = page(found, call.query);
  const body: Record<string, unknown> = {};
  if (items.length) body.messages = items.map((m) => ({ id: m.id, threadId: m.threadId }));
  if (nextPageToken) body.nextPageToken = nextPageToken;
  body.resultSizeEstimate = found.length;
  return body;
}

function get(call: GmailCall) {
  const format = parseFormat(first(call.query.format));
  if ((format === "full" || format === "raw") && hasMetadataScope(call.token.scopes)) {
    throw forbidden(`Metadata scope doesn't allow format ${format.toUpperCase()}`);
  }
  const message = messageById(call.user, call.params.id);
  return messageJson(message, format, all(call.query.metadataHeaders));
}

function attachment(call: GmailCall) {
  const message = messageById(call.user, call.params.messageId);
  const ref = parseAttachmentId(call.params.id);
  if (!ref) throw badRequest("Invalid attachment token");
  if (ref.messageId !== message.id) throw notFound();
  const part = findPart(message.parsed.payload, ref.partId);
  if (!part?.data) throw notFound();
  return { attachmentId: call.params.id, size: part.data.length, data: base64url(part.data) };
}

function profile(call: GmailCall) {
  return {
    emailAddress: call.user.email,
    messagesTotal: call.user.messages.size,
    threadsTotal: call.user.threadCount(),
    historyId: String(call.user.historyId),
  };
}

export const messageReadRoutes: GmailRoute[] = [
  { method: "GET", path: `${USER}/profile`, scopes: METHOD_SCOPES.getProfile, cost: COST.getProfile, handler: profile },
  { method: "GET", path: `${USER}/messages`, scopes: METHOD_SCOPES.messagesRead, cost: COST.messagesList, handler: list },
  { method: "GET", path: `${USER}/messages/:id`, scopes: METHOD_SCOPES.messagesRead, cost: COST.messagesGet, handler: get },
  {
    method: "GET",
    path: `${USER}/messages/:messageId/attachments/:id`,
    scopes: METHOD_SCOPES.attachmentsGet,
    cost: COST.attachmentsGet,
    handler: attachment,
  },
];
