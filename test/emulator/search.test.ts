import MailComposer from "nodemailer/lib/mail-composer";
import type Mail from "nodemailer/lib/mailer";
import type { gmail_v1 } from "@googleapis/gmail";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorize, failure, gmailFor, harness, SCOPES, type Harness } from "./helpers.ts";

let h: Harness;
let api: gmail_v1.Gmail;
let auth: Awaited<ReturnType<typeof authorize>>["auth"];
const ME = "search@x.test";
const DAY = 86_400_000;

function build(options: Mail.Options): Promise<Buffer> {
  return new Promise((resolve, reject) => new MailComposer(options).compile().build((e, m) => (e ? reject(e) : resolve(m))));
}

const SENDERS = ["alice@example.com", "bob@example.org", "carol@example.net", "dave@example.com", "eve@example.io", "Zoë <zoe@example.de>", "news@weekly.example"];
const TOPICS = ["Invoice", "Weekly digest", "Meeting notes", "Travel plans", "Build failed"];

interface Seeded {
  i: number;
  from: string;
  subject: string;
  date: number;
  labels: string[];
  attachment: boolean;
}
const seeded: Seeded[] = [];
const idOf = new Map<number, string>();

beforeAll(async () => {
  h = await harness();
  const base = h.clock.now;
  const batch: Array<{ raw: string; labelIds: string[] }> = [];
  for (let i = 0; i < 1000; i++) {
    const s: Seeded = {
      i,
      from: SENDERS[i % SENDERS.length],
      subject: `${TOPICS[i % TOPICS.length]} #${i}`,
      date: base - i * 7 * 3600_000 - 1000,
      labels: ["INBOX", ...(i % 3 === 0 ? ["UNREAD"] : []), ...(i % 11 === 0 ? ["STARRED"] : [])],
      attachment: i % 10 === 0,
    };
    if (i % 50 === 7) s.labels = ["TRASH"];
    seeded.push(s);
    const raw = await build({
      from: s.from,
      to: ME,
      subject: s.subject,
      date: new Date(s.date),
      messageId: `<m${i}@seed.test>`,
      text: `Body of message ${i}. ${i % 4 === 0 ? "The quarterly numbers look good." : "Nothing special."}`,
      attachments: s.attachment ? [{ filename: `file-${i}.csv`, content: "a,b\n1,2\n" }] : [],
    });
    batch.push({ raw: raw.toString("base64url"), labelIds: s.labels });
  }
  const res = await h.admin("POST", "/_admin/users", { email: ME, messages: batch });
  expect(res.status).toBe(201);
  expect(res.body.messagesTotal).toBe(1000);
  const dump = await h.admin("GET", `/_admin/users/${ME}`);
  for (const m of dump.body.messages) idOf.set(Number(/#(\d+)$/.exec(m.subject)![1]), m.id);
  ({ auth } = await authorize(h, { email: ME, scopes: [SCOPES.email, SCOPES.mail] }));
  api = gmailFor(h, auth);
});
afterAll(() => h.close());

async function listAll(params: gmail_v1.Params$Resource$Users$Messages$List, pageSize: number): Promise<{ ids: string[]; pages: number; estimate: number }> {
  const ids: string[] = [];
  let pageToken: string | undefined;
  let pages = 0;
  let estimate = -1;
  do {
    const { data } = await api.users.messages.list({ userId: "me", ...params, maxResults: pageSize, pageToken });
    pages += 1;
    estimate = data.resultSizeEstimate ?? 0;
    ids.push(...(data.messages ?? []).map((m) => m.id!));
    expect((data.messages ?? []).length).toBeLessThanOrEqual(pageSize);
    pageToken = data.nextPageToken ?? undefined;
  } while (pageToken);
  return { ids, pages, estimate };
}

const visible = (s: Seeded) => !s.labels.includes("TRASH");
const ymd = (t: number) => {
  const d = new Date(t);
  return `${d.getUTCFullYear()}/${d.getUTCMonth() + 1}/${d.getUTCDate()}`;
};

describe("1,000 messages under q filters", () => {
  const cutoff = () => h.clock.now - 30 * DAY;
  const cases: Array<[string, () => string, (s: Seeded) => boolean]> = [
    ["everything", () => "", visible],
    ["from:", () => "from:alice", (s) => visible(s) && s.from.startsWith("alice")],
    ["subject: and is:unread", () => "subject:invoice is:unread", (s) => visible(s) && s.subject.startsWith("Invoice") && s.labels.includes("UNREAD")],
    ["OR, negation, parentheses", () => "(from:bob OR from:carol) -is:unread", (s) => visible(s) && /^(bob|carol)/.test(s.from) && !s.labels.includes("UNREAD")],
    ["quoted phrase", () => '"weekly digest"', (s) => visible(s) && s.subject.startsWith("Weekly digest")],
    ["has:attachment and dates", () => `has:attachment after:${ymd(cutoff())} before:${ymd(h.clock.now + DAY)}`,
      // Dates are read in the mailbox's Pacific time: May and June 2026 are PDT, UTC-7.
      (s) => visible(s) && s.attachment && s.date >= Date.parse(ymd(cutoff()).replace(/\//g, "-").replace(/-(\d)(?=-|$)/g, "-0$1") + "T00:00:00-07:00")],
    ["newer_than:", () => "newer_than:10d", (s) => visible(s) && s.date > h.clock.now - 10 * DAY],
    ["body words and non-ASCII sender", () => "quarterly from:zoë", (s) => visible(s) && s.i % 4 === 0 && s.from.startsWith("Zoë")],
    ["braces and is:starred", () => "{from:dave from:eve} is:starred", (s) => visible(s) && /^(dave|eve)/.test(s.from) && s.labels.includes("STARRED")],
    ["in:trash", () => "in:trash", (s) => s.labels.includes("TRASH")],
    ["in:anywhere", () => "in:anywhere build", (s) => s.subject.startsWith("Build")],
    ["rfc822msgid:", () => "rfc822msgid:<m123@seed.test>", (s) => s.i === 123],
  ];

  for (const [name, q, expected] of cases) {
    it(`pages correctly: ${name}`, async () => {
      const want = seeded.filter(expected).sort((a, b) => b.date - a.date).map((s) => idOf.get(s.i)!);
      const { ids, pages, estimate } = await listAll(q() ? { q: q() } : {}, 37);
      expect(ids).toEqual(want);
      expect(estimate).toBe(want.length);
      expect(pages).toBe(Math.max(1, Math.ceil(want.length / 37)));
    });
  }

  it("combines labelIds (all must match) with q and honours maxResults 500", async () => {
    const want = seeded.filter((s) => s.labels.includes("UNREAD") && s.labels.includes("STARRED")).length;
    const { ids } = await listAll({ labelIds: ["UNREAD", "STARRED"] }, 500);
    expect(ids.length).toBe(want);
    const big = await api.users.messages.list({ userId: "me", maxResults: 1000 });
    expect(big.data.messages!.length).toBe(500);
    const none = await api.users.messages.list({ userId: "me", q: "from:nobody-at-all" });
    expect(none.data).toEqual({ resultSizeEstimate: 0 });
  });
});

describe("history", () => {
  it("records every change and answers 404 for a start id older than the kept history", async () => {
    const start = (await api.users.getProfile({ userId: "me" })).data.historyId!;
    const id = idOf.get(1)!;
    await api.users.messages.modify({ userId: "me", id, requestBody: { addLabelIds: ["STARRED"], removeLabelIds: ["INBOX"] } });
    const raw = await build({ from: "x@example.com", to: ME, subject: "new", text: "hello" });
    const added = await api.users.messages.insert({ userId: "me", requestBody: { raw: raw.toString("base64url"), labelIds: ["INBOX"] } });
    await api.users.messages.delete({ userId: "me", id: added.data.id! });
    const { data } = await api.users.history.list({ userId: "me", startHistoryId: start });
    expect(data.history!.map((r) => Object.keys(r).filter((k) => k !== "id" && k !== "messages").sort())).toEqual([
      ["labelsAdded", "labelsRemoved"],
      ["messagesAdded"],
      ["messagesDeleted"],
    ]);
    expect(data.history![0].labelsAdded![0]).toMatchObject({ message: { id }, labelIds: ["STARRED"] });
    expect(data.history![0].labelsRemoved![0]).toMatchObject({ message: { id }, labelIds: ["INBOX"] });
    expect(data.history![1].messagesAdded![0].message!.id).toBe(added.data.id);
    expect(data.historyId).toBe((await api.users.getProfile({ userId: "me" })).data.historyId);
    const only = await api.users.history.list({ userId: "me", startHistoryId: start, historyTypes: ["messageDeleted"] });
    expect(only.data.history!.map((r) => r.messagesDeleted![0].message!.id)).toEqual([added.data.id]);
    const paged = await api.users.history.list({ userId: "me", startHistoryId: start, maxResults: 2 });
    expect(paged.data.history!.length).toBe(2);
    expect(paged.data.nextPageToken).toBeTruthy();
    const none = await api.users.history.list({ userId: "me", startHistoryId: data.historyId! });
    expect(none.data).toEqual({ historyId: data.historyId });
    h.clock.advance(8 * DAY);
    // The emulator's clock moved, the client's did not: make it refresh now.
    auth.setCredentials({ ...auth.credentials, expiry_date: 1 });
    expect(await failure(api.users.history.list({ userId: "me", startHistoryId: start }))).toMatchObject({
      status: 404,
      data: { error: { code: 404, message: "Requested entity was not found.", status: "NOT_FOUND" } },
    });
  });
});
