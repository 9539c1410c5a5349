import { Readable } from "node:stream";
import MailComposer from "nodemailer/lib/mail-composer";
import type Mail from "nodemailer/lib/mailer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorize, failure, gmailFor, harness, SCOPES, type Harness } from "./helpers.ts";
import type { gmail_v1 } from "@googleapis/gmail";

let h: Harness;
let api: gmail_v1.Gmail;
const ME = "roundtrip@x.test";

function build(options: Mail.Options): Promise<Buffer> {
  return new Promise((resolve, reject) => new MailComposer(options).compile().build((e, m) => (e ? reject(e) : resolve(m))));
}
const b64 = (data: Buffer) => data.toString("base64url");
const unb64 = (data: string | null | undefined) => Buffer.from(data ?? "", "base64");

beforeAll(async () => {
  h = await harness();
  await h.admin("POST", "/_admin/users", { email: ME, name: "Round Trip" });
  const { auth } = await authorize(h, { email: ME, scopes: [SCOPES.email, SCOPES.mail] });
  api = gmailFor(h, auth);
});
afterAll(() => h.close());

const PDF = Buffer.from("%PDF-1.4\n% fake pdf body with bytes \x00\x01\x02\xff\n%%EOF\n", "latin1");
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");
const MAIL: Mail.Options = {
  from: { name: "Zoë Ünïcødé", address: ME },
  to: [{ name: "José Álvarez 山田", address: "jose@example.es" }],
  subject: "Grüße aus Zürich — 東京 ✓",
  text: "Hallo José,\n\nanbei die Unterlagen. Schöne Grüße!\n",
  html: "<p>Hallo <b>José</b>,</p><p>anbei die Unterlagen. Schöne Grüße!</p>",
  attachments: [
    { filename: "Bericht – März.pdf", content: PDF, contentType: "application/pdf" },
    { filename: "bild.png", content: PNG, contentType: "image/png" },
  ],
};

function header(part: gmail_v1.Schema$MessagePart | undefined, name: string): string | undefined {
  return part?.headers?.find((x) => x.name?.toLowerCase() === name.toLowerCase())?.value ?? undefined;
}

async function checkRoundTrip(id: string, raw: Buffer): Promise<void> {
  const rawGet = await api.users.messages.get({ userId: "me", id, format: "raw" });
  expect(unb64(rawGet.data.raw).equals(raw)).toBe(true);
  expect(rawGet.data.sizeEstimate).toBe(raw.length);

  const { data } = await api.users.messages.get({ userId: "me", id });
  const root = data.payload!;
  expect(root.partId).toBe("");
  expect(root.mimeType).toBe("multipart/mixed");
  expect(header(root, "Subject")).toBe(MAIL.subject);
  expect(header(root, "From")).toBe(`Zoë Ünïcødé <${ME}>`);
  expect(header(root, "To")).toBe("José Álvarez 山田 <jose@example.es>");
  expect(root.body).toEqual({ size: 0 });
  const [alt, pdf, png] = root.parts!;
  expect(alt.partId).toBe("0");
  expect(alt.mimeType).toBe("multipart/alternative");
  const [text, html] = alt.parts!;
  expect([text.partId, text.mimeType, text.filename]).toEqual(["0.0", "text/plain", ""]);
  expect(unb64(text.body!.data).toString("utf8")).toBe(MAIL.text);
  expect(text.body!.size).toBe(Buffer.byteLength(MAIL.text as string));
  expect([html.partId, html.mimeType]).toEqual(["0.1", "text/html"]);
  expect(unb64(html.body!.data).toString("utf8")).toBe(MAIL.html);
  expect([pdf.partId, pdf.mimeType, pdf.filename]).toEqual(["1", "application/pdf", "Bericht – März.pdf"]);
  expect([png.partId, png.mimeType, png.filename]).toEqual(["2", "image/png", "bild.png"]);
  for (const [part, content] of [[pdf, PDF], [png, PNG]] as const) {
    expect(part.body!.size).toBe(content.length);
    expect(part.body!.data).toBeUndefined();
    const att = await api.users.messages.attachments.get({ userId: "me", messageId: id, id: part.body!.attachmentId! });
    expect(unb64(att.data.data).equals(content)).toBe(true);
    expect(att.data.size).toBe(content.length);
  }
  expect(data.snippet).toContain("Hallo José");
  expect(data.historyId).toMatch(/^\d+$/);
  expect(data.internalDate).toBe(String(h.clock.now));
}

describe("messages: byte-for-byte and part-for-part", () => {
  it("sends with JSON raw and reads back full and raw exactly as sent", async () => {
    const raw = await build(MAIL);
    const sent = await api.users.messages.send({ userId: "me", requestBody: { raw: b64(raw) } });
    expect(sent.data.labelIds).toEqual(["SENT"]);
    expect(sent.data.threadId).toBe(sent.data.id);
    await checkRoundTrip(sent.data.id!, raw);
  });

  it("sends through /upload with uploadType=multipart and media", async () => {
    const raw = await build(MAIL);
    const rootUrl = `${h.base}/`;
    const multipart = await api.users.messages.send(
      { userId: "me", requestBody: {}, media: { mimeType: "message/rfc822", body: Readable.from([raw]) } },
      { rootUrl },
    );
    await checkRoundTrip(multipart.data.id!, raw);
    const media = await api.users.messages.send({ userId: "me", media: { mimeType: "message/rfc822", body: Readable.from([raw]) } }, { rootUrl });
    await checkRoundTrip(media.data.id!, raw);
  });

  it("answers minimal and metadata formats", async () => {
    const raw = await build({ ...MAIL, attachments: [] });
    const { data: ref } = await api.users.messages.insert({ userId: "me", requestBody: { raw: b64(raw), labelIds: ["INBOX", "UNREAD"] } });
    const minimal = (await api.users.messages.get({ userId: "me", id: ref.id!, format: "minimal" })).data;
    expect(Object.keys(minimal).sort()).toEqual(["historyId", "id", "internalDate", "labelIds", "sizeEstimate", "snippet", "threadId"]);
    const meta = (await api.users.messages.get({ userId: "me", id: ref.id!, format: "metadata", metadataHeaders: ["Subject", "From"] })).data;
    expect(meta.payload!.headers!.map((x) => x.name)).toEqual(["From", "Subject"]);
    expect(meta.payload!.parts).toBeUndefined();
    expect(meta.raw).toBeUndefined();
  });

  it("answers 404 for an unknown id and 400 for a malformed one", async () => {
    expect(await failure(api.users.messages.get({ userId: "me", id: "18f0000000ffffff" }))).toEqual({
      status: 404,
      data: {
        error: {
          code: 404,
          message: "Requested entity was not found.",
          errors: [{ message: "Requested entity was not found.", domain: "global", reason: "notFound" }],
          status: "NOT_FOUND",
        },
      },
    });
    expect((await failure(api.users.messages.get({ userId: "me", id: "not-an-id!" }))).status).toBe(400);
  });
});

describe("insert, import, modify, trash, delete, threads", () => {
  it("inserts with receivedTime and imports with the Date header", async () => {
    const date = new Date(Date.UTC(2020, 0, 2, 3, 4, 5));
    const raw = await build({ from: "a@example.com", to: ME, subject: "dated", text: "x", date });
    const inserted = await api.users.messages.insert({ userId: "me", requestBody: { raw: b64(raw), labelIds: ["INBOX"] } });
    const imported = await api.users.messages.import({ userId: "me", requestBody: { raw: b64(raw) } });
    const got = async (id: string) => (await api.users.messages.get({ userId: "me", id, format: "minimal" })).data;
    expect((await got(inserted.data.id!)).internalDate).toBe(String(h.clock.now));
    expect((await got(imported.data.id!)).internalDate).toBe(String(date.getTime()));
    expect(imported.data.labelIds).toEqual(["INBOX", "UNREAD"]);
    expect((await failure(api.users.messages.insert({ userId: "me", requestBody: { raw: b64(raw), labelIds: ["Label_999"] } }))).data.error.message).toBe(
      "Invalid label: Label_999",
    );
    expect((await failure(api.users.messages.insert({ userId: "me", requestBody: {} }))).status).toBe(400);
  });

  it("modifies labels, batch-modifies, trashes, untrashes and deletes", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const raw = await build({ from: "b@example.com", to: ME, subject: `mod ${i}`, text: "x" });
      ids.push((await api.users.messages.insert({ userId: "me", requestBody: { raw: b64(raw), labelIds: ["INBOX", "UNREAD"] } })).data.id!);
    }
    const modified = await api.users.messages.modify({ userId: "me", id: ids[0], requestBody: { addLabelIds: ["STARRED"], removeLabelIds: ["UNREAD"] } });
    expect(modified.data.labelIds).toEqual(["INBOX", "STARRED"]);
    const batch = await api.users.messages.batchModify({ userId: "me", requestBody: { ids, addLabelIds: ["IMPORTANT"] } });
    expect(batch.status).toBe(204);
    const trashed = await api.users.messages.trash({ userId: "me", id: ids[1] });
    expect(trashed.data.labelIds).toContain("TRASH");
    const listed = await api.users.messages.list({ userId: "me", q: "subject:mod" });
    expect(listed.data.messages!.map((m) => m.id).sort()).toEqual([ids[0], ids[2]].sort());
    const withTrash = await api.users.messages.list({ userId: "me", q: "subject:mod", includeSpamTrash: true });
    expect(withTrash.data.resultSizeEstimate).toBe(3);
    expect((await api.users.messages.untrash({ userId: "me", id: ids[1] })).data.labelIds).not.toContain("TRASH");
    expect((await api.users.messages.delete({ userId: "me", id: ids[2] })).status).toBe(204);
    expect((await failure(api.users.messages.get({ userId: "me", id: ids[2] }))).status).toBe(404);
    const tooMany = Array.from({ length: 101 }, (_, i) => `Label_${i}`);
    expect((await failure(api.users.messages.modify({ userId: "me", id: ids[0], requestBody: { addLabelIds: tooMany } }))).status).toBe(400);
  });

  it("threads replies by In-Reply-To and by threadId", async () => {
    const first = await build({ from: "c@example.com", to: ME, subject: "thread me", text: "1", messageId: "<t1@example.com>" });
    const a = await api.users.messages.insert({ userId: "me", requestBody: { raw: b64(first), labelIds: ["INBOX"] } });
    const reply = await build({ from: ME, to: "c@example.com", subject: "Re: thread me", text: "2", inReplyTo: "<t1@example.com>", references: ["<t1@example.com>"] });
    const b = await api.users.messages.send({ userId: "me", requestBody: { raw: b64(reply) } });
    expect(b.data.threadId).toBe(a.data.threadId);
    const c = await api.users.messages.send({ userId: "me", requestBody: { raw: b64(await build({ from: ME, to: "d@example.com", subject: "x", text: "3" })), threadId: a.data.threadId } });
    expect(c.data.threadId).toBe(a.data.threadId);
    const self = await api.users.messages.send({ userId: "me", requestBody: { raw: b64(await build({ from: ME, to: ME, subject: "note to self", text: "4" })) } });
    expect(self.data.labelIds).toEqual(["SENT", "INBOX", "UNREAD"]);
  });
});

describe("labels, profile, drafts", () => {
  it("lists system labels and creates, updates, counts and deletes user labels", async () => {
    const { data } = await api.users.labels.list({ userId: "me" });
    const ids = data.labels!.map((l) => l.id);
    for (const id of ["INBOX", "SENT", "DRAFT", "TRASH", "SPAM", "UNREAD", "STARRED", "IMPORTANT"]) expect(ids).toContain(id);
    const created = await api.users.labels.create({ userId: "me", requestBody: { name: "Projects/Alpha" } });
    expect(created.data).toMatchObject({ name: "Projects/Alpha", type: "user", messageListVisibility: "show", labelListVisibility: "labelShow" });
    expect((await failure(api.users.labels.create({ userId: "me", requestBody: { name: "projects/alpha" } }))).status).toBe(409);
    expect((await failure(api.users.labels.create({ userId: "me", requestBody: { name: "INBOX" } }))).status).toBe(400);
    const raw = await build({ from: "e@example.com", to: ME, subject: "labelled", text: "x" });
    await api.users.messages.insert({ userId: "me", requestBody: { raw: b64(raw), labelIds: [created.data.id!, "UNREAD"] } });
    const got = await api.users.labels.get({ userId: "me", id: created.data.id! });
    expect(got.data).toMatchObject({ messagesTotal: 1, messagesUnread: 1, threadsTotal: 1, threadsUnread: 1 });
    expect((await api.users.messages.list({ userId: "me", q: "label:projects-alpha" })).data.resultSizeEstimate).toBe(1);
    const patched = await api.users.labels.patch({ userId: "me", id: created.data.id!, requestBody: { name: "Alpha" } });
    expect(patched.data.name).toBe("Alpha");
    expect((await api.users.labels.delete({ userId: "me", id: created.data.id! })).status).toBe(204);
    expect((await failure(api.users.labels.get({ userId: "me", id: created.data.id! }))).status).toBe(404);
    expect((await failure(api.users.labels.delete({ userId: "me", id: "INBOX" }))).status).toBe(400);
  });

  it("creates, lists, gets, updates, sends and deletes drafts", async () => {
    const raw = await build({ from: ME, to: "f@example.com", subject: "draft one", text: "first" });
    const created = await api.users.drafts.create({ userId: "me", requestBody: { message: { raw: b64(raw) } } });
    expect(created.data.message!.labelIds).toEqual(["DRAFT"]);
    const listed = await api.users.drafts.list({ userId: "me" });
    expect(listed.data.drafts!.map((d) => d.id)).toContain(created.data.id);
    const raw2 = await build({ from: ME, to: "f@example.com", subject: "draft two", text: "second" });
    const updated = await api.users.drafts.update({ userId: "me", id: created.data.id!, requestBody: { message: { raw: b64(raw2) } } });
    const got = await api.users.drafts.get({ userId: "me", id: created.data.id!, format: "raw" });
    expect(unb64(got.data.message!.raw).equals(raw2)).toBe(true);
    expect(updated.data.id).toBe(created.data.id);
    const sent = await api.users.drafts.send({ userId: "me", requestBody: { id: created.data.id! } });
    expect(sent.data.labelIds).toEqual(["SENT"]);
    expect((await failure(api.users.drafts.get({ userId: "me", id: created.data.id! }))).status).toBe(404);
    const other = await api.users.drafts.create({ userId: "me", requestBody: { message: { raw: b64(raw) } } });
    expect((await api.users.drafts.delete({ userId: "me", id: other.data.id! })).status).toBe(204);
    expect((await failure(api.users.messages.get({ userId: "me", id: other.data.message!.id! }))).status).toBe(404);
  });

  it("reports the profile", async () => {
    const { data } = await api.users.getProfile({ userId: "me" });
    const all = await api.users.messages.list({ userId: "me", includeSpamTrash: true, maxResults: 500 });
    expect(data.emailAddress).toBe(ME);
    expect(data.messagesTotal).toBe(all.data.resultSizeEstimate);
    expect(Number(data.threadsTotal)).toBeLessThanOrEqual(Number(data.messagesTotal));
    expect(data.historyId).toMatch(/^\d+$/);
    expect((await api.users.getProfile({ userId: ME })).status).toBe(200);
    expect((await failure(api.users.getProfile({ userId: "someone.else@x.test" }))).status).toBe(403);
  });
});
