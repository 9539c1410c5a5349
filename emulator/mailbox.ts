/**
 * One user's mailbox: messages as RFC 5322 bytes, labels, drafts, threads and the history of
 * every change (messageAdded, messageDeleted, labelAdded, labelRemoved).
 */
import { gmailId } from "./ids.ts";
import { systemLabels, type Label } from "./labels.ts";
import { headerValue, type ParsedMessage } from "./mime.ts";

export interface StoredMessage {
  id: string;
  threadId: string;
  labelIds: string[];
  raw: Buffer;
  internalDate: number;
  historyId: number;
  parsed: ParsedMessage;
}

export interface MessageRef {
  id: string;
  threadId: string;
}

export interface HistoryRecord {
  id: number;
  at: number;
  messages: MessageRef[];
  messagesAdded?: Array<{ message: MessageRef & { labelIds: string[] } }>;
  messagesDeleted?: Array<{ message: MessageRef & { labelIds: string[] } }>;
  labelsAdded?: Array<{ message: MessageRef & { labelIds: string[] }; labelIds: string[] }>;
  labelsRemoved?: Array<{ message: MessageRef & { labelIds: string[] }; labelIds: string[] }>;
}

/** Gmail keeps history for about a week. */
export const HISTORY_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
const FIRST_HISTORY_ID = 10_000;

export class Mailbox {
  readonly messages = new Map<string, StoredMessage>();
  readonly labels = new Map<string, Label>();
  readonly drafts = new Map<string, { id: string; messageId: string }>();
  readonly history: HistoryRecord[] = [];
  historyId = FIRST_HISTORY_ID;
  /** The smallest `startHistoryId` still answerable; older ones answer 404. */
  historyFloor = FIRST_HISTORY_ID;
  /** Message-ID header → thread, for threading replies. */
  private readonly threadsByMessageId = new Map<string, string>();
  private seq = 0;
  private labelSeq = 0;

  constructor(
    readonly email: string,
    public name: string,
    private readonly now: () => number,
  ) {
    for (const label of systemLabels()) this.labels.set(label.id, label);
  }

  nextId(): string {
    this.seq += 1;
    return gmailId(this.seq);
  }

  nextLabelId(): string {
    this.labelSeq += 1;
    return `Label_${this.labelSeq}`;
  }

  /** Thread of the message this one replies to (In-Reply-To / References), if we hold it. */
  findThread(parsed: ParsedMessage): string | undefined {
    const refs = `${headerValue(parsed.headers, "In-Reply-To") ?? ""} ${headerValue(parsed.headers, "References") ?? ""}`
      .match(/<[^>]+>/g);
    if (!refs) return undefined;
    for (const ref of refs.reverse()) {
      const thread = this.threadsByMessageId.get(ref);
      if (thread && [...this.messages.values()].some((m) => m.threadId === thread)) return thread;
    }
    return undefined;
  }

  add(raw: Buffer, parsed: ParsedMessage, labelIds: string[], internalDate: number, threadId?: string): StoredMessage {
    const id = this.nextId();
    const message: StoredMessage = {
      id,
      threadId: threadId ?? this.findThread(parsed) ?? id,
      labelIds: [...new Set(labelIds)],
      raw,
      internalDate,
      historyId: 0,
      parsed,
    };
    this.messages.set(id, message);
    const own = headerValue(parsed.headers, "Message-ID")?.trim();
    if (own) this.threadsByMessageId.set(own, message.threadId);
    this.record(message, { messagesAdded: [{ message: this.ref(message) }] });
    return message;
  }

  changeLabels(message: StoredMessage, add: string[], remove: string[]): void {
    const added = [...new Set(add)].filter((l) => !message.labelIds.includes(l));
    const removed = [...new Set(remove)].filter((l) => message.labelIds.includes(l) && !added.includes(l));
    if (added.length === 0 && removed.length === 0) return;
    message.labelIds = message.labelIds.filter((l) => !removed.includes(l)).concat(added);
    const change: Partial<HistoryRecord> = {};
    if (added.length) change.labelsAdded = [{ message: this.ref(message), labelIds: added }];
    if (removed.length) change.labelsRemoved = [{ message: this.ref(message), labelIds: removed }];
    this.record(message, change);
  }

  remove(message: StoredMessage): void {
    this.messages.delete(message.id);
    this.record(message, { messagesDeleted: [{ message: this.ref(message) }] });
  }

  /** Drops a label from every message (label deleted), recording each change. */
  dropLabel(labelId: string): void {
    for (const message of this.messages.values()) {
      if (message.labelIds.includes(labelId)) this.changeLabels(message, [], [labelId]);
    }
    this.labels.delete(labelId);
  }

  threadCount(): number {
    return new Set([...this.messages.values()].map((m) => m.threadId)).size;
  }

  private ref(message: StoredMessage): MessageRef & { labelIds: string[] } {
    return { id: message.id, threadId: message.threadId, labelIds: [...message.labelIds] };
  }

  private record(message: StoredMessage, change: Partial<HistoryRecord>): void {
    this.historyId += 1;
    message.historyId = this.historyId;
    const at = this.now();
    this.history.push({ id: this.historyId, at, messages: [{ id: message.id, threadId: message.threadId }], ...change });
    this.prune(at);
  }

  /** Forgets history older than the retention window; starting ids before it then answer 404. */
  prune(at = this.now()): void {
    let drop = 0;
    while (drop < this.history.length && this.history[drop].at < at - HISTORY_RETENTION_MS) drop += 1;
    if (drop > 0) {
      this.historyFloor = this.history[drop - 1].id;
      this.history.splice(0, drop);
    }
  }
}
