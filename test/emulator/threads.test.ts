/**
 * threads.* through the Gmail client: a conversation is the messages sharing a threadId.
 */
import MailComposer from "nodemailer/lib/mail-composer";
import type { gmail_v1 } from "@googleapis/gmail";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorize, failure, gmailFor, harness, insufficientScopesBody, SCOPES, type Harness } from "./helpers.ts";

let h: Harness;
let api: gmail_v1.Gmail;
const ME = "threads@x.test";

function raw(subject: string, date: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) =>
    new MailComposer({ from: "pal@x.test", to: ME, subject, text: `about ${subject}`, date: new Date(date), headers })
      .compile()
      .build((e, m) => (e ? reject(e) : resolve(m.toString("base64url")))),
  );
}

beforeAll(async () => {
  h = await harness();
  const messages = [
    { raw: await raw("trip", "2026-06-01T10:00:00Z", { "Message-ID": "<t1@x.test>" }) },
    { raw: await raw("Re: trip", "2026-06-02T10:00:00Z", { "Message-ID": "<t2@x.test>", "In-Reply-To": "<t1@x.test>", References: "<t1@x.test>" }) },
    { raw: await raw("invoice", "2026-06-03T10:00:00Z", { "Message-ID": "<i1@x.test>" }) },
  ];
  expect((await h.admin("POST", "/_admin/users", { email: ME, messages })).status).toBe(201);
  api = gmailFor(h, (await authorize(h, { email: ME, scopes: [SCOPES.mail] })).auth);
});
afterAll(() => h.close());

describe("threads", () => {
  it("lists conversations newest first and gets one with its messages oldest first", async () => {
    const list = await api.users.threads.list({ userId: "me" });
    expect(list.data.resultSizeEstimate).toBe(2);
    expect(list.data.threads!.map((t) => t.snippet)).toEqual(["about invoice", "about Re: trip"]);
    const tripId = list.data.threads![1].id!;
    const thread = await api.users.threads.get({ userId: "me", id: tripId, format: "metadata", metadataHeaders: ["Subject"] });
    expect(thread.data.messages!.map((m) => m.payload!.headers![0].value)).toEqual(["trip", "Re: trip"]);
    expect(thread.data.messages!.every((m) => m.threadId === tripId)).toBe(true);
    expect(thread.data.historyId).toBe(String(Math.max(...thread.data.messages!.map((m) => Number(m.historyId)))));
    const byQuery = await api.users.threads.list({ userId: "me", q: "subject:invoice" });
    expect(byQuery.data.threads!.map((t) => t.snippet)).toEqual(["about invoice"]);
  });

  it("modifies, trashes and untrashes every message of a thread, then deletes it", async () => {
    const tripId = (await api.users.threads.list({ userId: "me", q: "trip" })).data.threads![0].id!;
    const starred = await api.users.threads.modify({ userId: "me", id: tripId, requestBody: { addLabelIds: ["STARRED"] } });
    expect(starred.data.messages!.every((m) => m.labelIds!.includes("STARRED"))).toBe(true);
    await api.users.threads.trash({ userId: "me", id: tripId });
    expect((await api.users.threads.list({ userId: "me" })).data.resultSizeEstimate).toBe(1);
    expect((await api.users.threads.list({ userId: "me", q: "in:trash" })).data.threads![0].id).toBe(tripId);
    await api.users.threads.untrash({ userId: "me", id: tripId });
    expect((await api.users.threads.list({ userId: "me" })).data.resultSizeEstimate).toBe(2);
    expect((await failure(api.users.threads.modify({ userId: "me", id: tripId, requestBody: { addLabelIds: ["Label_404"] } }))).status).toBe(400);
    expect((await api.users.threads.delete({ userId: "me", id: tripId })).status).toBe(204);
    expect((await failure(api.users.threads.get({ userId: "me", id: tripId }))).status).toBe(404);
  });

  it("needs the same scopes as the message methods, and refuses format=raw", async () => {
    const readonly = gmailFor(h, (await authorize(h, { email: ME, scopes: [SCOPES.readonly] })).auth);
    const id = (await readonly.users.threads.list({ userId: "me" })).data.threads![0].id!;
    expect(await failure(readonly.users.threads.trash({ userId: "me", id }))).toEqual({ status: 403, data: insufficientScopesBody });
    expect((await failure(readonly.users.threads.get({ userId: "me", id, format: "raw" }))).status).toBe(400);
    const labelsOnly = gmailFor(h, (await authorize(h, { email: ME, scopes: [SCOPES.labels] })).auth);
    expect((await failure(labelsOnly.users.threads.list({ userId: "me" }))).status).toBe(403);
  });
});
