/**
 * threads.list/get/modify/trash/untrash/delete: a thread is the messages sharing a `threadId`.
 * Listing goes through the same search as messages.list; a thread counts when one of its
 * messages matches, newest thread first.
 */
import { badRequest, forbidden, notFound } from "./errors.ts";
import { all, first } from "./form.ts";
import { search, truthy } from "./gmail-messages.ts";
import type { GmailCall, GmailRoute } from "./gmail-pipeline.ts";
import { readModify } from "./gmail-schemas.ts";
import type { Mailbox, StoredMessage } from "./mailbox.ts";
import { messageJson, messageRef, parseFormat } from "./message-format.ts";
import { checkLabels } from "./message-store.ts";
import { page } from "./paging.ts";
import { COST } from "./quota.ts";
import { hasMetadataScope, METHOD_SCOPES } from "./scopes.ts";

const USER = "/gmail/v1/users/:userId";

/** The thread's messages, oldest first as Gmail shows a conversation; 404 when there are none. */
function threadById(user: Mailbox, id: string): StoredMessage[] {
  if (!/^[0-9a-f]{1,24}$/i.test(id)) throw badRequest("Invalid id value");
  const wanted = id.toLowerCase();
  const messages = [...user.messages.values()].filter((m) => m.threadId === wanted).sort((a, b) => a.internalDate - b.internalDate);
  if (messages.length === 0) throw notFound();
  return messages;
}

const historyId = (messages: StoredMessage[]) => String(Math.max(...messages.map((m) => m.historyId)));

function list(call: GmailCall) {
  const q = first(call.query.q);
  if (q && hasMetadataScope(call.token.scopes)) throw forbidden("Metadata scope does not support 'q' parameter");
  const found = search(call, q, all(call.query.labelIds), truthy(call.query.includeSpamTrash));
  const threads = new Map<string, StoredMessage>();
  for (const m of found) if (!threads.has(m.threadId)) threads.set(m.threadId, m);
  const newest = [...threads.values()];
  const { items, nextPageToken } = page(newest, call.query);
  const body: Record<string, unknown> = {};
  if (items.length) {
    body.threads = items.map((m) => ({ id: m.threadId, snippet: m.parsed.snippet, historyId: historyId(threadById(call.user, m.threadId)) }));
  }
  if (nextPageToken) body.nextPageToken = nextPageToken;
  body.resultSizeEstimate = newest.length;
  return body;
}

function get(call: GmailCall) {
  const format = parseFormat(first(call.query.format));
  if (format === "raw") throw badRequest("Invalid value at 'format' (raw)");
  if (format === "full" && hasMetadataScope(call.token.scopes)) throw forbidden("Metadata scope doesn't allow format FULL");
  const messages = threadById(call.user, call.params.id);
  const headers = all(call.query.metadataHeaders);
  return { id: messages[0].threadId, historyId: historyId(messages), messages: messages.map((m) => messageJson(m, format, headers)) };
}

/** Applies a label change to every message of the thread and answers the thread's references. */
function change(call: GmailCall, add: string[], remove: string[]) {
  const messages = threadById(call.user, call.params.id);
  for (const m of messages) call.user.changeLabels(m, add, remove);
  return { id: messages[0].threadId, historyId: historyId(messages), messages: messages.map(messageRef) };
}

function modify(call: GmailCall) {
  const body = (call.body ?? {}) as { addLabelIds?: string[]; removeLabelIds?: string[] };
  const add = body.addLabelIds ?? [];
  const remove = body.removeLabelIds ?? [];
  if (add.length > 100 || remove.length > 100) throw badRequest("Too many labels: at most 100 may be added and 100 removed.");
  checkLabels(call.user, [...add, ...remove]);
  return change(call, add, remove);
}

function remove(call: GmailCall) {
  for (const m of threadById(call.user, call.params.id)) call.user.remove(m);
  return undefined;
}

const S = METHOD_SCOPES;
export const threadRoutes: GmailRoute[] = [
  { method: "GET", path: `${USER}/threads`, scopes: S.messagesRead, cost: COST.threads, handler: list },
  { method: "GET", path: `${USER}/threads/:id`, scopes: S.messagesRead, cost: COST.threads, handler: get },
  { method: "POST", path: `${USER}/threads/:id/modify`, scopes: S.messagesModify, cost: COST.threads, body: readModify, handler: modify },
  { method: "POST", path: `${USER}/threads/:id/trash`, scopes: S.messagesModify, cost: COST.threads, handler: (c) => change(c, ["TRASH"], ["SPAM"]) },
  { method: "POST", path: `${USER}/threads/:id/untrash`, scopes: S.messagesModify, cost: COST.threads, handler: (c) => change(c, [], ["TRASH"]) },
  { method: "DELETE", path: `${USER}/threads/:id`, scopes: S.messagesDelete, cost: COST.threadsDelete, handler: remove },
];
