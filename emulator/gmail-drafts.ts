/**
 * drafts.create/list/get/update/send/delete. A draft points at a message labelled DRAFT;
 * sending turns that message into a sent one (DRAFT off, SENT on) and forgets the draft.
 */
import { randomInt } from "node:crypto";
import { badRequest, notFound } from "./errors.ts";
import { first } from "./form.ts";
import { sendRaw } from "./gmail-message-writes.ts";
import type { GmailCall, GmailRoute } from "./gmail-pipeline.ts";
import type { Mailbox, StoredMessage } from "./mailbox.ts";
import { messageJson, messageRef, parseFormat } from "./message-format.ts";
import { checkThread, ingest } from "./message-store.ts";
import { newestFirst } from "./gmail-messages.ts";
import { readDraft } from "./gmail-schemas.ts";
import { page } from "./paging.ts";
import { COST } from "./quota.ts";
import { METHOD_SCOPES } from "./scopes.ts";
import { readUpload, requireRaw, SEND_LIMIT } from "./uploads.ts";

const USER = "/gmail/v1/users/:userId";

function messageOf(resource: Record<string, unknown>): Record<string, unknown> {
  const m = resource.message;
  return m && typeof m === "object" ? (m as Record<string, unknown>) : {};
}

function draftById(user: Mailbox, id: string | undefined): { id: string; message: StoredMessage } {
  if (!id) throw badRequest("Invalid draft id");
  const draft = user.drafts.get(id);
  const message = draft && user.messages.get(draft.messageId);
  if (!draft || !message) throw notFound();
  return { id: draft.id, message };
}

async function storeDraft(call: GmailCall, raw: Buffer, threadId: unknown): Promise<StoredMessage> {
  const now = call.state.now();
  return ingest(call.user, raw, { labelIds: ["DRAFT"], internalDate: now, threadId: checkThread(call.user, threadId), now });
}

async function create(call: GmailCall) {
  const upload = await readUpload(call, messageOf, SEND_LIMIT);
  const message = await storeDraft(call, requireRaw(upload), messageOf(upload.metadata).threadId);
  const id = `r${randomInt(1, 2 ** 47)}${randomInt(1, 2 ** 47)}`.slice(0, 20);
  call.user.drafts.set(id, { id, messageId: message.id });
  return { id, message: messageRef(message) };
}

async function update(call: GmailCall) {
  const draft = draftById(call.user, call.params.id);
  const upload = await readUpload(call, messageOf, SEND_LIMIT);
  const message = await storeDraft(call, requireRaw(upload), messageOf(upload.metadata).threadId ?? draft.message.threadId);
  call.user.remove(draft.message);
  call.user.drafts.set(draft.id, { id: draft.id, messageId: message.id });
  return { id: draft.id, message: messageRef(message) };
}

async function send(call: GmailCall) {
  const upload = await readUpload(call, messageOf, SEND_LIMIT);
  const draft = draftById(call.user, first(upload.metadata.id));
  const raw = upload.raw ?? draft.message.raw;
  call.user.remove(draft.message);
  call.user.drafts.delete(draft.id);
  // Stay in the draft's thread if other messages of it remain.
  const thread = draft.message.threadId;
  const keep = [...call.user.messages.values()].some((m) => m.threadId === thread) ? thread : undefined;
  const sent = await sendRaw(call.user, raw, keep, call.state.now());
  return messageRef(sent);
}

function list(call: GmailCall) {
  const drafts = [...call.user.drafts.values()]
    .map((d) => ({ id: d.id, message: call.user.messages.get(d.messageId) }))
    .filter((d): d is { id: string; message: StoredMessage } => d.message !== undefined)
    .sort((a, b) => newestFirst(a.message, b.message));
  const { items, nextPageToken } = page(drafts, call.query);
  const body: Record<string, unknown> = {};
  if (items.length) body.drafts = items.map((d) => ({ id: d.id, message: { id: d.message.id, threadId: d.message.threadId } }));
  if (nextPageToken) body.nextPageToken = nextPageToken;
  body.resultSizeEstimate = drafts.length;
  return body;
}

function get(call: GmailCall) {
  const draft = draftById(call.user, call.params.id);
  return { id: draft.id, message: messageJson(draft.message, parseFormat(first(call.query.format))) };
}

function remove(call: GmailCall) {
  const draft = draftById(call.user, call.params.id);
  call.user.remove(draft.message);
  call.user.drafts.delete(draft.id);
  return undefined;
}

const S = METHOD_SCOPES;
export const draftRoutes: GmailRoute[] = [
  { method: "POST", path: `${USER}/drafts/send`, scopes: S.draftsSend, cost: COST.send, uploadLimit: SEND_LIMIT, body: readDraft, handler: send },
  { method: "POST", path: `${USER}/drafts`, scopes: S.draftsWrite, cost: COST.draftsCreate, uploadLimit: SEND_LIMIT, body: readDraft, handler: create },
  { method: "GET", path: `${USER}/drafts`, scopes: S.draftsRead, cost: COST.draftsRead, handler: list },
  { method: "GET", path: `${USER}/drafts/:id`, scopes: S.draftsRead, cost: COST.draftsRead, handler: get },
  { method: "PUT", path: `${USER}/drafts/:id`, scopes: S.draftsWrite, cost: COST.draftsUpdate, uploadLimit: SEND_LIMIT, body: readDraft, handler: update },
  { method: "DELETE", path: `${USER}/drafts/:id`, scopes: S.draftsWrite, cost: COST.draftsDelete, handler: remove },
];
