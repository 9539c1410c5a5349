/**
 * Generated mailboxes: varied senders (some with non-ASCII names), subjects, dates over the
 * last year, threads of replies, system and user labels, and attachments, so that `q` filters
 * have something to find. A seeded PRNG makes a given (email, count) the same every time.
 */
import { compose } from "./compose.ts";
import { createLabel } from "./gmail-labels.ts";
import type { Mailbox, StoredMessage } from "./mailbox.ts";
import { ingest } from "./message-store.ts";

const PEOPLE = [
  { name: "Alice Johnson", address: "alice@example.com" },
  { name: "Bob Smith", address: "bob@example.org" },
  { name: "Zoë Müller", address: "zoe.mueller@example.de" },
  { name: "José Álvarez", address: "jose@example.es" },
  { name: "Chen Wei", address: "chen.wei@example.cn" },
  { name: "Priya Patel", address: "priya@example.in" },
  { name: "GitHub", address: "noreply@github.example" },
  { name: "Acme Billing", address: "billing@acme.example" },
  { name: "Travel Desk", address: "trips@travel.example" },
  { name: "Newsletter Weekly", address: "news@weekly.example" },
  { name: "Søren Kierkegaard", address: "soren@example.dk" },
  { name: "Mom", address: "mom@family.example" },
];

const TOPICS = [
  { label: "Work", subjects: ["Quarterly report {n}", "Project kickoff: {n}", "Design review notes", "Standup summary {n}", "Roadmap draft v{n}"] },
  { label: "Receipts", subjects: ["Invoice #{n}", "Your receipt from Acme", "Payment received — thank you", "Subscription renewal {n}"] },
  { label: "Travel", subjects: ["Flight confirmation {n}", "Hotel booking in Zürich", "Itinerary for your trip", "Boarding pass {n}"] },
  { label: "Family", subjects: ["Dinner on Sunday?", "Photos from the weekend", "Happy birthday! 🎂", "Holiday plans {n}"] },
  { label: undefined, subjects: ["Weekly digest #{n}", "Pull request #{n} merged", "Security alert", "Welcome aboard", "Re-engagement: we miss you"] },
];

const ATTACHMENTS = [
  { filename: "report.pdf", contentType: "application/pdf", content: Buffer.from("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n") },
  { filename: "data.csv", contentType: "text/csv", content: Buffer.from("id,amount,currency\n1,42.50,EUR\n2,17.00,USD\n") },
  {
    filename: "pixel.png",
    contentType: "image/png",
    content: Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64"),
  },
  { filename: "notes – résumé.txt", contentType: "text/plain", content: Buffer.from("Notes with non-ASCII: naïve café\n") },
];

function prng(seed: string): () => number {
  let h = 2166136261;
  for (const c of seed) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return () => {
    h = (h + 0x6d2b79f5) | 0;
    let t = Math.imul(h ^ (h >>> 15), 1 | h);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const YEAR_MS = 365 * 24 * 60 * 60 * 1000;

export interface GenerateOptions {
  count: number;
  attachments?: boolean;
  now: number;
}

function userLabelId(user: Mailbox, name: string): string {
  for (const label of user.labels.values()) if (label.name === name) return label.id;
  return createLabel(user, { name }).id;
}

export async function generateMessages(user: Mailbox, opts: GenerateOptions): Promise<void> {
  const rand = prng(`${user.email}:${user.messages.size}:${opts.count}`);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)];
  const dates = Array.from({ length: opts.count }, () => opts.now - Math.floor(rand() * YEAR_MS)).sort((a, b) => a - b);
  const made: StoredMessage[] = [];
  const me = { name: user.name, address: user.email };
  for (const [i, date] of dates.entries()) {
    const topic = pick(TOPICS);
    const parent = made.length > 3 && rand() < 0.3 ? made[made.length - 1 - Math.floor(rand() * Math.min(5, made.length))] : undefined;
    const fromMe = rand() < 0.15;
    const other = pick(PEOPLE);
    const parentSubject = parent?.parsed.headers.find((h) => h.name.toLowerCase() === "subject")?.value;
    const subject = parentSubject ? `Re: ${parentSubject.replace(/^Re: /, "")}` : pick(topic.subjects).replace("{n}", String(i + 1));
    const parentId = parent?.parsed.headers.find((h) => h.name.toLowerCase() === "message-id")?.value;
    const text = `Hello,\n\nThis is message ${i + 1} about "${subject}".\nTopic: ${topic.label ?? "general"}.\n\nBest regards,\n${fromMe ? me.name : other.name}\n`;
    const attachments = opts.attachments && rand() < 0.25 ? [pick(ATTACHMENTS), ...(rand() < 0.3 ? [pick(ATTACHMENTS)] : [])] : [];
    const raw = await compose({
      from: fromMe ? me : other,
      to: fromMe ? other : me,
      cc: rand() < 0.1 ? pick(PEOPLE) : undefined,
      subject,
      date: new Date(date),
      messageId: `<gen-${i + 1}-${Math.floor(rand() * 1e9)}@emulator.mailbridge.test>`,
      inReplyTo: parentId,
      references: parentId ? [parentId] : undefined,
      text,
      html: `<div dir="ltr"><p>${text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/\n/g, "<br>")}</p></div>`,
      attachments: attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, content: a.content })),
    });
    const labels: string[] = [];
    if (fromMe) labels.push("SENT");
    else {
      const r = rand();
      if (r < 0.04) labels.push("SPAM");
      else if (r < 0.08) labels.push("TRASH");
      else if (r < 0.9) labels.push("INBOX");
      if (rand() < 0.4) labels.push("UNREAD");
      labels.push(topic.label === "Receipts" || other.address.startsWith("news") ? "CATEGORY_UPDATES" : "CATEGORY_PERSONAL");
    }
    if (rand() < 0.1) labels.push("STARRED");
    if (rand() < 0.2) labels.push("IMPORTANT");
    if (topic.label) labels.push(userLabelId(user, topic.label));
    made.push(await ingest(user, raw, { labelIds: labels, internalDate: date, now: opts.now }));
  }
}
