/**
 * Changing mail: send, insert, import, modify, batchModify, batchDelete, trash, untrash, delete.
 */
import { badRequest } from "./errors.ts";
import { first } from "./form.ts";
import { messageById } from "./gmail-messages.ts";
import { readBatchDelete, readBatchModify, readMessage, readModify } from "./gmail-schemas.ts";
import type { GmailCall, GmailRoute } from "./gmail-pipeline.ts";
import type { Mailbox } from "./mailbox.ts";
import { messageRef } from "./message-format.ts";
import { addressedTo, checkLabels, checkThread, completeOutgoing, ingest } from "./message-store.ts";
import { COST } from "./quota.ts";
import { METHOD_SCOPES } from "./scopes.ts";
import { INSERT_LIMIT, readUpload, requireRaw, SEND_LIMIT } from "./uploads.ts";

const USER = "/gmail/v1/users/:userId";
const self = (r: Record<string, unknown>) => r;

function body(call: GmailCall): Record<string, unknown> {
  return call.body && typeof call.body === "object" && !Buffer.isBuffer(call.body) ? (call.body as Record<string, unknown>) : {};
}

function ids(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw badRequest(`Invalid value for '${field}'`);
  return value.map(String);
}

/** Sends a raw message from the user: labelled SENT, and INBOX/UNREAD too when sent to oneself. */
export async function sendRaw(user: Mailbox, raw: Buffer, threadId: unknown, now: number) {
  const complete = completeOutgoing(raw, user, now);
  return ingest(user, complete, {
    labelIds: (parsed) => (addressedTo(parsed, user.email) ? ["SENT", "INBOX", "UNREAD"] : ["SENT"]),
    internalDate: now,
    threadId: checkThread(user, threadId),
    now,
  });
}

async function send(call: GmailCall) {
  const upload = await readUpload(call, self, SEND_LIMIT);
  const message = await sendRaw(call.user, requireRaw(upload), upload.metadata.threadId, call.state.now());
  return messageRef(message);
}

function insertLike(defaultSource: "receivedTime" | "dateHeader", defaultLabels: string[]) {
  return async (call: GmailCall) => {
    const upload = await readUpload(call, self, INSERT_LIMIT);
    const raw = requireRaw(upload);
    const source = first(call.query.internalDateSource) ?? defaultSource;
    if (source !== "receivedTime" && source !== "dateHeader") throw badRequest(`Invalid value at 'internal_date_source' (${source})`);
    const labelIds = upload.metadata.labelIds === undefined ? defaultLabels : ids(upload.metadata.labelIds, "labelIds");
    const message = await ingest(call.user, raw, {
      labelIds,
      internalDateSource: source,
      threadId: checkThread(call.user, upload.metadata.threadId),
      now: call.state.now(),
    });
    return messageRef(message);
  };
}

function modify(call: GmailCall) {
  const message = messageById(call.user, call.params.id);
  const add = ids(body(call).addLabelIds, "addLabelIds");
  const remove = ids(body(call).removeLabelIds, "removeLabelIds");
  if (add.length > 100 || remove.length > 100) throw badRequest("Too many labels: at most 100 may be added and 100 removed.");
  checkLabels(call.user, [...add, ...remove]);
  call.user.changeLabels(message, add, remove);
  return messageRef(message);
}

function batchModify(call: GmailCall) {
  const list = ids(body(call).ids, "ids");
  if (list.length > 1000) throw badRequest("Too many ids: at most 1000.");
  const add = ids(body(call).addLabelIds, "addLabelIds");
  const remove = ids(body(call).removeLabelIds, "removeLabelIds");
  if (add.length > 100 || remove.length > 100) throw badRequest("Too many labels: at most 100 may be added and 100 removed.");
  checkLabels(call.user, [...add, ...remove]);
  const messages = list.map((id) => messageById(call.user, id));
  for (const message of messages) call.user.changeLabels(message, add, remove);
  return undefined;
}

function batchDelete(call: GmailCall) {
  const list = ids(body(call).ids, "ids");
  if (list.length > 1000) throw badRequest("Too many ids: at most 1000.");
  for (const id of list) {
    const message = call.user.messages.get(id);
    if (message) call.user.remove(message);
  }
  return undefined;
}

function trash(call: GmailCall) {
  const message = messageById(call.user, call.params.id);
  call.user.changeLabels(message, ["TRASH"], ["SPAM"]);
  return messageRef(message);
}

function untrash(call: GmailCall) {
  const message = messageById(call.user, call.params.id);
  call.user.changeLabels(message, [], ["TRASH"]);
  return messageRef(message);
}

function remove(call: GmailCall) {
  call.user.remove(messageById(call.user, call.params.id));
  return undefined;
}

const M = METHOD_SCOPES;
export const messageWriteRoutes: GmailRoute[] = [
  { method: "POST", path: `${USER}/messages/send`, scopes: M.messagesSend, cost: COST.send, uploadLimit: SEND_LIMIT, body: readMessage, handler: send },
  { method: "POST", path: `${USER}/messages/import`, scopes: M.messagesInsert, cost: COST.messagesInsert, uploadLimit: INSERT_LIMIT, body: readMessage, handler: insertLike("dateHeader", ["INBOX", "UNREAD"]) },
  { method: "POST", path: `${USER}/messages/batchModify`, scopes: M.messagesModify, cost: COST.batchModify, body: readBatchModify, handler: batchModify },
  { method: "POST", path: `${USER}/messages/batchDelete`, scopes: M.messagesDelete, cost: COST.batchModify, body: readBatchDelete, handler: batchDelete },
  { method: "POST", path: `${USER}/messages`, scopes: M.messagesInsert, cost: COST.messagesInsert, uploadLimit: INSERT_LIMIT, body: readMessage, handler: insertLike("receivedTime", []) },
  { method: "POST", path: `${USER}/messages/:id/modify`, scopes: M.messagesModify, cost: COST.messagesModify, body: readModify, handler: modify },
  { method: "POST", path: `${USER}/messages/:id/trash`, scopes: M.messagesModify, cost: COST.messagesModify, handler: trash },
  { method: "POST", path: `${USER}/messages/:id/untrash`, scopes: M.messagesModify, cost: COST.messagesModify, handler: untrash },
  { method: "DELETE", path: `${USER}/messages/:id`, scopes: M.messagesDelete, cost: COST.messagesDelete, handler: remove },
];

