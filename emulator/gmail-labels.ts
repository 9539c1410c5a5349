/**
 * labels.list/get/create/update/patch/delete.
 */
import { apiError, badRequest, notFound } from "./errors.ts";
import type { GmailCall, GmailRoute } from "./gmail-pipeline.ts";
import { readLabel } from "./gmail-schemas.ts";
import { isSystemLabelName, type Label } from "./labels.ts";
import type { Mailbox } from "./mailbox.ts";
import { COST } from "./quota.ts";
import { METHOD_SCOPES } from "./scopes.ts";

const USER = "/gmail/v1/users/:userId";
const LIST_VISIBILITY = ["show", "hide"];
const LABEL_VISIBILITY = ["labelShow", "labelShowIfUnread", "labelHide"];

function labelById(user: Mailbox, id: string): Label {
  const label = user.labels.get(id);
  if (!label) throw notFound();
  return label;
}

function withCounts(user: Mailbox, label: Label) {
  const messages = [...user.messages.values()].filter((m) => m.labelIds.includes(label.id));
  const unread = messages.filter((m) => m.labelIds.includes("UNREAD"));
  return {
    ...label,
    messagesTotal: messages.length,
    messagesUnread: unread.length,
    threadsTotal: new Set(messages.map((m) => m.threadId)).size,
    threadsUnread: new Set(unread.map((m) => m.threadId)).size,
  };
}

/** Applies the writable fields of a Label resource, checking them as Gmail does. */
function apply(user: Mailbox, label: Label, input: Record<string, unknown>, partial: boolean): void {
  if (input.name !== undefined || !partial) {
    const name = typeof input.name === "string" ? input.name.trim() : "";
    if (!name || isSystemLabelName(name)) throw badRequest("Invalid label name");
    for (const other of user.labels.values()) {
      if (other.id !== label.id && other.name.toLowerCase() === name.toLowerCase()) {
        throw apiError(409, "Label name exists or conflicts", "conflict");
      }
    }
    label.name = name;
  }
  if (input.messageListVisibility !== undefined) {
    if (!LIST_VISIBILITY.includes(String(input.messageListVisibility))) throw badRequest("Invalid messageListVisibility");
    label.messageListVisibility = input.messageListVisibility as Label["messageListVisibility"];
  }
  if (input.labelListVisibility !== undefined) {
    if (!LABEL_VISIBILITY.includes(String(input.labelListVisibility))) throw badRequest("Invalid labelListVisibility");
    label.labelListVisibility = input.labelListVisibility as Label["labelListVisibility"];
  }
  if (input.color && typeof input.color === "object") label.color = input.color as Label["color"];
}

function body(call: GmailCall): Record<string, unknown> {
  return call.body && typeof call.body === "object" && !Buffer.isBuffer(call.body) ? (call.body as Record<string, unknown>) : {};
}

function userLabel(call: GmailCall): Label {
  const label = labelById(call.user, call.params.id);
  if (label.type === "system") throw badRequest(`Invalid label: ${label.id}`);
  return label;
}

/** Creates a user label (also used by the seeder through the admin routes). */
export function createLabel(user: Mailbox, input: Record<string, unknown>): Label {
  const label: Label = { id: user.nextLabelId(), name: "", type: "user" };
  apply(user, label, input, false);
  label.messageListVisibility ??= "show";
  label.labelListVisibility ??= "labelShow";
  user.labels.set(label.id, label);
  return label;
}

function update(partial: boolean) {
  return (call: GmailCall) => {
    const label = userLabel(call);
    const copy = { ...label };
    apply(call.user, copy, body(call), partial);
    Object.assign(label, copy);
    return label;
  };
}

const S = METHOD_SCOPES;
export const labelRoutes: GmailRoute[] = [
  { method: "GET", path: `${USER}/labels`, scopes: S.labelsRead, cost: COST.labelsRead, handler: (c) => ({ labels: [...c.user.labels.values()] }) },
  { method: "GET", path: `${USER}/labels/:id`, scopes: S.labelsRead, cost: COST.labelsRead, handler: (c) => withCounts(c.user, labelById(c.user, c.params.id)) },
  { method: "POST", path: `${USER}/labels`, scopes: S.labelsWrite, cost: COST.labelsWrite, body: readLabel, handler: (c) => createLabel(c.user, body(c)) },
  { method: "PUT", path: `${USER}/labels/:id`, scopes: S.labelsWrite, cost: COST.labelsWrite, body: readLabel, handler: update(false) },
  { method: "PATCH", path: `${USER}/labels/:id`, scopes: S.labelsWrite, cost: COST.labelsWrite, body: readLabel, handler: update(true) },
  {
    method: "DELETE",
    path: `${USER}/labels/:id`,
    scopes: S.labelsWrite,
    cost: COST.labelsWrite,
    handler: (c) => {
      c.user.dropLabel(userLabel(c).id);
      return undefined;
    },
  },
];
