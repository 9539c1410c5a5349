/**
 * A 20 MB message through a flow: Mailbridge imports it with a resumable upload (GOOGLE.md
 * "Project quota and uploads"), and when the connection drops mid-upload it asks Google where the
 * upload stands and goes on from there. A TCP proxy between the service and the emulator cuts the
 * connection once while the second chunk is on the wire (a real dropped socket, not a simulated
 * error); the message arrives once and byte-equal, and what was sent again is only what Google did
 * not hold, not the whole message.
 */
import net from "node:net";
import { randomBytes } from "node:crypto";
import MailComposer from "nodemailer/lib/mail-composer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_CHUNK_SIZE } from "../../connector/resumable-upload.ts";
import { flowWorld, type FlowWorld } from "./support.ts";

const MB = 1024 * 1024;

/** Forwards TCP to `target` (set once known); counts the bytes of upload PUTs and cuts the connection once past `dropAt`. */
async function startCuttingProxy(dropAt: number) {
  const counts = { uploadBytes: 0, drops: 0, uploadRequests: 0 };
  const to: { target?: URL } = {};
  let armed = true;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(to.target!.port), to.target!.hostname);
    let uploading = false;
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
    upstream.on("data", (d) => client.write(d));
    client.on("data", (d: Buffer) => {
      const puts = d.toString("latin1").split("PUT /upload/").length - 1;
      if (puts) {
        uploading = true;
        counts.uploadRequests += puts;
      }
      if (uploading) counts.uploadBytes += d.length;
      if (uploading && armed && counts.uploadBytes > dropAt) {
        armed = false;
        counts.drops += 1;
        end(); // mid-body: the emulator never gets this request whole
        return;
      }
      upstream.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`,
    counts,
    set target(url: URL) {
      to.target = url;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function bigMessage(size: number): Promise<Buffer> {
  // Random bytes base64-encoded in an attachment: a message of about `size` bytes.
  const attachment = randomBytes(Math.floor((size * 3) / 4) - 4096);
  return new Promise((resolve, reject) =>
    new MailComposer({
      from: "Sender <sender@example.org>",
      to: "archive@example.org",
      subject: "Twenty megabytes",
      messageId: `<big-${randomBytes(6).toString("hex")}@example.org>`,
      date: new Date("2026-03-01T10:00:00Z"),
      text: "The scans are attached.",
      attachments: [{ filename: "scans.bin", content: attachment, contentType: "application/octet-stream" }],
    })
      .compile()
      .build((e, m) => (e ? reject(e) : resolve(m))),
  );
}

describe("a 20 MB message imported through a flow with the connection dropped mid-upload", () => {
  let w: FlowWorld;
  let proxy: Awaited<ReturnType<typeof startCuttingProxy>>;

  beforeAll(async () => {
    // Cut inside the second chunk: past the first chunk and half of the second.
    proxy = await startCuttingProxy(DEFAULT_CHUNK_SIZE + DEFAULT_CHUNK_SIZE / 2);
    // Gmail calls go through the proxy; OAuth goes to the emulator directly.
    w = await flowWorld({ env: { GMAIL_API_URL: proxy.url } });
    proxy.target = new URL(w.google.baseUrl);
  }, 120_000);
  afterAll(async () => {
    await w?.close();
    await proxy?.close();
  });

  it("imports it once, byte-equal, resuming from the offset Google reported", async () => {
    const raw = await bigMessage(20 * MB);
    expect(raw.length).toBeGreaterThan(19 * MB);
    const src = await w.mailbox();
    const dst = await w.mailbox();
    await w.google.admin("POST", `/users/${encodeURIComponent(src.email)}/messages`, { raw: raw.toString("base64url"), labelIds: ["INBOX"] });
    const flowId = await w.flow({
      source: { connectionId: src.connectionId, export: { query: "subject:megabytes", format: "metadata" } },
      destinations: [{ connectionId: dst.connectionId, import: { action: "import" } }],
    });
    const run = await w.run(flowId);
    expect(run, JSON.stringify(run.errors)).toMatchObject({ status: "succeeded", progress: { exported: 1, imported: 1, failed: 0 } });
    expect(proxy.counts.drops).toBe(1);
    console.log(`large import: ${raw.length} bytes, ${proxy.counts.uploadBytes} upload bytes on the wire in ${proxy.counts.uploadRequests} upload requests, ${proxy.counts.drops} dropped`);

    const copies = (await w.user(dst.email)).messages.filter((m) => m.subject === "Twenty megabytes");
    expect(copies).toHaveLength(1);
    const accountId = await w.accountId();
    const got = await w.t.app.gmail.run(accountId, dst.connectionId, "messages.get", (g, options) =>
      g.users.messages.get({ userId: "me", id: copies[0]!.id, format: "raw" }, options),
    );
    const bytes = Buffer.from(got.data.raw!, "base64url");
    expect(bytes.length).toBe(raw.length);
    expect(bytes.equals(raw)).toBe(true);
    expect(copies[0]!.labelIds.sort()).toEqual(["INBOX", "UNREAD"]);
    // Sent again: only what Google did not hold (from the first chunk's end), not the whole message.
    // Restarting from zero would have cost the cut-off 1.5 chunks plus the whole message again.
    expect(proxy.counts.uploadBytes).toBeLessThan(raw.length + DEFAULT_CHUNK_SIZE);
    expect(proxy.counts.uploadRequests).toBeGreaterThanOrEqual(4); // three chunks, the cut one, a status query
  }, 180_000);
});
