/**
 * One source record into one destination: compose and send/reply/draft, copy
 * its bytes (insert/import), or act on it in place. Message-making actions go
 * through {@link DeliveryStore.deliverOnce}, so they happen once per record.
 */
import type { ExportRecord, GmailCaller } from "../../connector/gmail-export.ts";
import { actInPlace, composeFor, copyRaw, deliverComposed, findByMessageId, COMPOSING_ACTIONS, COPYING_ACTIONS, LabelsByName } from "../../connector/gmail-import.ts";
import { deliveryMessageId, type DeliveryStore, type Fence } from "./deliveries.ts";
import { isArchiveDestination, isArchiveSource, type Flow, type FlowDestination } from "./flow.ts";

/** A destination ready to receive: its caller and what it knows about its mailbox. */
export interface DestinationContext {
  /** The destination's place in the flow (run errors name it). */
  index: number;
  spec: FlowDestination;
  call: GmailCaller;
  /** The destination connection's Gmail address (the From of composed messages). */
  email: string;
  /** Same mailbox as the source: thread ids carry over, and a copy would find the original. */
  sameMailbox: boolean;
  /** An archive source: its user labels found or created by name in this mailbox. */
  labels?: LabelsByName;
}

/**
 * The flow's Gmail destinations ready to receive (an archive destination is the run's sink, not
 * one of these): `call` makes a destination's Gmail calls, `email` reads a connection's address.
 */
export async function destinationContexts(
  flow: Flow,
  sourceId: string | undefined,
  email: (connectionId: string) => Promise<string | null | undefined>,
  call: (connectionId: string) => GmailCaller,
): Promise<DestinationContext[]> {
  const sourceEmail = sourceId ? await email(sourceId) : undefined;
  const fromArchive = isArchiveSource(flow.source);
  return Promise.all(
    flow.destinations
      .map((spec, index) => ({ spec, index }))
      .filter(({ spec }) => !isArchiveDestination(spec))
      .map(async ({ spec, index }) => {
        const address = (await email(spec.connectionId)) ?? "";
        const c = call(spec.connectionId);
        return { index, spec, call: c, email: address, sameMailbox: spec.connectionId === sourceId || (!!address && address === sourceEmail), labels: fromArchive ? new LabelsByName(c) : undefined };
      }),
  );
}

export async function deliverRecord(
  deliveries: DeliveryStore,
  flowId: string,
  fence: Fence,
  dest: DestinationContext,
  record: ExportRecord,
  raw: () => Promise<Buffer>,
): Promise<void> {
  const { action, labelIds } = dest.spec.import;
  const key = { flowId, destinationId: dest.spec.id, sourceMessageId: record.id };
  if (COMPOSING_ACTIONS.includes(action)) {
    const messageId = deliveryMessageId(key);
    await deliveries.deliverOnce(key, messageId, fence, {
      find: (sought) => findByMessageId(dest.call, sought),
      deliver: async () => {
        const mail = await composeFor(record, action, dest.spec.mapping, { ownAddress: dest.email, messageId, sameMailbox: dest.sameMailbox });
        return deliverComposed(dest.call, action, mail.raw, mail.threadId);
      },
    });
    return;
  }
  if (COPYING_ACTIONS.includes(action)) {
    const original = record.messageId;
    await deliveries.deliverOnce(key, original, fence, {
      find: original && !dest.sameMailbox ? (sought) => findByMessageId(dest.call, sought) : undefined,
      deliver: async () => copyRaw(dest.call, action as "insert" | "import", await raw(), await copyLabels(dest, record, labelIds)),
    });
    return;
  }
  // Label changes and trash are idempotent: applied again on every run.
  await actInPlace(dest.call, action, record.id, labelIds);
}

/**
 * The labels of a copy: the destination's, and for an archive's record its own labels (system
 * label ids, and user labels found or created by name).
 */
async function copyLabels(dest: DestinationContext, record: ExportRecord, labelIds: string[] | undefined): Promise<string[] | undefined> {
  if (!record.userLabelNames || !dest.labels) return labelIds;
  const all = [...(labelIds ?? []), ...record.labelIds, ...(await dest.labels.ids(record.userLabelNames))];
  return [...new Set(all)];
}
