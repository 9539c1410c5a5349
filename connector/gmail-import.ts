/**
 * Gmail as a flow destination: compose a new message from a source record
 * (send, reply, draft), copy a source message's bytes into a mailbox (insert,
 * import), or act on the source message itself (add/remove labels, trash).
 * Every call goes through the caller's `call` (the server's choke point).
 */
import type { ExportRecord, GmailCaller } from "./gmail-export.ts";
import { composeMail, renderTemplate, toBase64Url, type TemplateFields } from "./mime.ts";
import { RESUMABLE_THRESHOLD, resumableUpload, type ResumableUpload } from "./resumable-upload.ts";

/**
 * How message bytes travel: `raw` in the JSON body up to {@link RESUMABLE_THRESHOLD}, a resumable
 * upload above it (Google's guidance; it survives a dropped connection).
 */
export interface UploadOptions {
  /** @defaultValue {@link RESUMABLE_THRESHOLD} */
  resumableAbove?: number;
  /** Tuning of the resumable upload (chunk size, backoff). */
  resumable?: Pick<ResumableUpload, "chunkSize" | "backoffMs">;
}

const USERS_ME = "upload/gmail/v1/users/me";

function resumable(raw: Buffer, upload: UploadOptions | undefined): boolean {
  return raw.length > (upload?.resumableAbove ?? RESUMABLE_THRESHOLD);
}

export const IMPORT_ACTIONS = ["send", "reply", "draft", "insert", "import", "addLabels", "removeLabels", "trash"] as const;
export type ImportAction = (typeof IMPORT_ACTIONS)[number];
/** Actions that build a new message with MailComposer. */
export const COMPOSING_ACTIONS: readonly ImportAction[] = ["send", "reply", "draft"];
/** Actions that copy the source message's raw bytes. */
export const COPYING_ACTIONS: readonly ImportAction[] = ["insert", "import"];
/** Actions on the source message itself: the destination must be the source connection. */
export const IN_PLACE_ACTIONS: readonly ImportAction[] = ["addLabels", "removeLabels", "trash"];

export interface ImportSpec {
  action: ImportAction;
  labelIds?: string[];
}

/** Templates of a composed message; `{{from}} {{to}} {{subject}} {{snippet}} {{date}} {{text}}` name the source's fields. */
export interface Mapping {
  to?: string;
  cc?: string;
  subject?: string;
  text?: string;
}

function fields(record: ExportRecord): TemplateFields {
  return { from: record.from, to: record.to, subject: record.subject, snippet: record.snippet, date: record.date, text: record.text ?? record.snippet };
}

/**
 * The message a send, reply or draft destination makes from `record`.
 * Defaults: send and draft go to the destination's own address with "Fwd: subject";
 * a reply goes to the source's sender with "Re: subject" in the source's thread.
 * Attachments are carried when the export fetched their content.
 */
export async function composeFor(
  record: ExportRecord,
  action: ImportAction,
  mapping: Mapping | undefined,
  opts: { ownAddress: string; messageId: string; sameMailbox: boolean },
): Promise<{ raw: Buffer; threadId?: string }> {
  const f = fields(record);
  const reply = action === "reply";
  const subjectDefault = reply ? (/^re:/i.test(record.subject) ? "{{subject}}" : "Re: {{subject}}") : "Fwd: {{subject}}";
  const refs = [...(record.references?.match(/<[^>]+>/g) ?? []), ...(record.messageId ? [record.messageId] : [])];
  const raw = await composeMail({
    from: opts.ownAddress,
    to: renderTemplate(mapping?.to ?? (reply ? "{{from}}" : opts.ownAddress), f),
    cc: mapping?.cc !== undefined ? renderTemplate(mapping.cc, f) : undefined,
    subject: renderTemplate(mapping?.subject ?? subjectDefault, f),
    text: renderTemplate(mapping?.text ?? "{{text}}", f),
    messageId: opts.messageId,
    inReplyTo: reply ? record.messageId : undefined,
    references: reply && refs.length ? refs : undefined,
    attachments: record.attachments.filter((a) => a.data).map((a) => ({ filename: a.filename, mimeType: a.mimeType, data: a.data! })),
  });
  // A thread id only means something in the mailbox it came from.
  return { raw, threadId: reply && opts.sameMailbox ? record.threadId : undefined };
}

/** Send or save as a draft; returns the new Gmail message id. */
export async function deliverComposed(call: GmailCaller, action: ImportAction, raw: Buffer, threadId?: string, upload?: UploadOptions): Promise<string> {
  if (resumable(raw, upload)) {
    if (action === "draft") {
      const draft = await call("drafts.create", (g, options) =>
        resumableUpload<{ message?: { id?: string } }>(g, options, { ...upload?.resumable, path: `${USERS_ME}/drafts`, metadata: { message: { threadId } }, media: raw }),
      );
      return draft.message?.id ?? "";
    }
    const sent = await call("messages.send", (g, options) =>
      resumableUpload<{ id?: string }>(g, options, { ...upload?.resumable, path: `${USERS_ME}/messages/send`, metadata: threadId ? { threadId } : {}, media: raw }),
    );
    return sent.id ?? "";
  }
  const message = { raw: toBase64Url(raw), threadId };
  if (action === "draft") {
    const res = await call("drafts.create", (g, options) => g.users.drafts.create({ userId: "me", requestBody: { message } }, options));
    return res.data.message?.id ?? "";
  }
  const res = await call("messages.send", (g, options) => g.users.messages.send({ userId: "me", requestBody: message }, options));
  return res.data.id ?? "";
}

/** Insert (no delivery, like IMAP APPEND) or import (scanned like received mail) the raw source message. */
export async function copyRaw(call: GmailCaller, action: "insert" | "import", raw: Buffer, labelIds: string[] | undefined, upload?: UploadOptions): Promise<string> {
  if (resumable(raw, upload)) {
    const method = action === "insert" ? "messages.insert" : "messages.import";
    const res = await call(method, (g, options) =>
      resumableUpload<{ id?: string }>(g, options, {
        ...upload?.resumable,
        path: `${USERS_ME}/messages${action === "import" ? "/import" : ""}`,
        query: { internalDateSource: "dateHeader" },
        metadata: labelIds ? { labelIds } : {},
        media: raw,
      }),
    );
    return res.id ?? "";
  }
  const requestBody = { raw: toBase64Url(raw), labelIds };
  const res =
    action === "insert"
      ? await call("messages.insert", (g, options) => g.users.messages.insert({ userId: "me", internalDateSource: "dateHeader", requestBody }, options))
      : await call("messages.import", (g, options) => g.users.messages.import({ userId: "me", internalDateSource: "dateHeader", requestBody }, options));
  return res.data.id ?? "";
}

/** Add or remove labels on, or trash, the source message itself. */
export async function actInPlace(call: GmailCaller, action: ImportAction, id: string, labelIds: string[] = []): Promise<string> {
  if (action === "trash") {
    await call("messages.trash", (g, options) => g.users.messages.trash({ userId: "me", id }, options));
    return id;
  }
  const requestBody = action === "addLabels" ? { addLabelIds: labelIds } : { removeLabelIds: labelIds };
  await call("messages.modify", (g, options) => g.users.messages.modify({ userId: "me", id, requestBody }, options));
  return id;
}

/** The id of a message in the mailbox with this Message-ID header, if any (anywhere, spam and trash included). */
export async function findByMessageId(call: GmailCaller, messageId: string): Promise<string | undefined> {
  const res = await call("messages.list", (g, options) =>
    g.users.messages.list({ userId: "me", q: `rfc822msgid:${messageId.replace(/^<|>$/g, "")}`, includeSpamTrash: true, maxResults: 1 }, options),
  );
  return res.data.messages?.[0]?.id ?? undefined;
}

/**
 * Label ids of a mailbox by name, creating the user labels it lacks (an archive restore: labels
 * recreated by name). One `labels.list` per resolver; names compare without case, as Gmail's do;
 * concurrent lookups of a missing name make one `labels.create`, and a 409 (made meanwhile
 * elsewhere) is answered by listing again.
 */
export class LabelsByName {
  private byName: Promise<Map<string, string>> | undefined;
  private readonly creating = new Map<string, Promise<string>>();
  constructor(private readonly call: GmailCaller) {}

  private list(): Promise<Map<string, string>> {
    return (this.byName ??= this.call("labels.list", (g, options) => g.users.labels.list({ userId: "me" }, options)).then(
      (res) => new Map((res.data.labels ?? []).map((l) => [l.name!.toLowerCase(), l.id!])),
      (err) => {
        this.byName = undefined;
        throw err;
      },
    ));
  }

  /** The ids of these user label names, created when missing. */
  async ids(names: readonly string[]): Promise<string[]> {
    return Promise.all(names.map((n) => this.id(n)));
  }

  private async id(name: string): Promise<string> {
    const key = name.toLowerCase();
    const known = (await this.list()).get(key);
    if (known) return known;
    let made = this.creating.get(key);
    if (!made) {
      made = this.create(name).finally(() => this.creating.delete(key));
      this.creating.set(key, made);
    }
    return made;
  }

  private async create(name: string): Promise<string> {
    const labels = await this.list();
    try {
      const res = await this.call("labels.create", (g, options) =>
        g.users.labels.create({ userId: "me", requestBody: { name, labelListVisibility: "labelShow", messageListVisibility: "show" } }, options),
      );
      labels.set(name.toLowerCase(), res.data.id!);
      return res.data.id!;
    } catch (err) {
      if ((err as { status?: number }).status !== 409) throw err;
      this.byName = undefined;
      const id = (await this.list()).get(name.toLowerCase());
      if (!id) throw err;
      return id;
    }
  }
}

/** Every label id of a mailbox with its name (user labels, for Takeout's names in an archive). */
export async function labelNames(call: GmailCaller): Promise<Map<string, string>> {
  const res = await call("labels.list", (g, options) => g.users.labels.list({ userId: "me" }, options));
  return new Map((res.data.labels ?? []).filter((l) => l.type !== "system").map((l) => [l.id!, l.name!]));
}
