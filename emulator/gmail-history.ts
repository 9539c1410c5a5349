/**
 * history.list: every recorded change after `startHistoryId`; ids older than the retained
 * history answer 404, which tells the client to resync in full.
 */
import { badRequest, notFound } from "./errors.ts";
import { all, first } from "./form.ts";
import type { GmailCall, GmailRoute } from "./gmail-pipeline.ts";
import type { HistoryRecord } from "./mailbox.ts";
import { page } from "./paging.ts";
import { COST } from "./quota.ts";
import { METHOD_SCOPES } from "./scopes.ts";

const TYPES = { messageAdded: "messagesAdded", messageDeleted: "messagesDeleted", labelAdded: "labelsAdded", labelRemoved: "labelsRemoved" } as const;
type Field = (typeof TYPES)[keyof typeof TYPES];

function touchesLabel(record: HistoryRecord, labelId: string): boolean {
  const fields: Field[] = ["messagesAdded", "messagesDeleted", "labelsAdded", "labelsRemoved"];
  return fields.some((f) =>
    (record[f] ?? []).some((e) => e.message.labelIds.includes(labelId) || ("labelIds" in e && (e.labelIds as string[]).includes(labelId))),
  );
}

function list(call: GmailCall) {
  const startText = first(call.query.startHistoryId);
  if (!startText) throw badRequest("Required parameter: startHistoryId");
  const start = Number(startText);
  if (!Number.isSafeInteger(start) || start < 0) throw badRequest(`Invalid value at 'start_history_id' (TYPE_UINT64), "${startText}"`);
  call.user.prune();
  if (start < call.user.historyFloor) throw notFound();
  const types = all(call.query.historyTypes);
  for (const t of types) if (!(t in TYPES)) throw badRequest(`Invalid value at 'history_types' (${t})`);
  const fields: Field[] = types.length ? types.map((t) => TYPES[t as keyof typeof TYPES]) : Object.values(TYPES);
  const labelId = first(call.query.labelId);
  const records = call.user.history
    .filter((r) => r.id > start)
    .filter((r) => fields.some((f) => r[f]?.length))
    .filter((r) => !labelId || touchesLabel(r, labelId))
    .map((r) => {
      const out: Record<string, unknown> = { id: String(r.id), messages: r.messages };
      for (const f of fields) if (r[f]?.length) out[f] = r[f];
      return out;
    });
  const { items, nextPageToken } = page(records, call.query);
  const body: Record<string, unknown> = {};
  if (items.length) body.history = items;
  if (nextPageToken) body.nextPageToken = nextPageToken;
  body.historyId = String(call.user.historyId);
  return body;
}

export const historyRoutes: GmailRoute[] = [
  { method: "GET", path: "/gmail/v1/users/:userId/history", scopes: METHOD_SCOPES.historyList, cost: COST.historyList, handler: list },
];
