import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorize, harness, SCOPES, type Harness } from "./helpers.ts";

let h: Harness;
let token: string;
const ME = "batch@x.test";

beforeAll(async () => {
  h = await harness();
  await h.admin("POST", "/_admin/users", { email: ME, generate: { count: 10 } });
  const { tokens } = await authorize(h, { email: ME, scopes: [SCOPES.modify] });
  token = tokens.access_token!;
});
afterAll(() => h.close());

function batchBody(boundary: string, calls: Array<{ id: string; line: string; body?: unknown }>): string {
  return (
    calls
      .map(
        (c) =>
          `--${boundary}\r\nContent-Type: application/http\r\nContent-ID: ${c.id}\r\n\r\n${c.line}\r\n` +
          (c.body === undefined ? "\r\n" : `Content-Type: application/json\r\n\r\n${JSON.stringify(c.body)}\r\n`),
      )
      .join("") + `--${boundary}--\r\n`
  );
}

/** Splits a multipart/mixed answer into parts (test-side reading of the wire format). */
function parseBatch(contentType: string, text: string): Array<{ contentId: string; status: number; json: any }> {
  const boundary = /boundary=([^;]+)/.exec(contentType)![1];
  return text
    .split(`--${boundary}`)
    .slice(1, -1)
    .map((part) => {
      const contentId = /Content-ID: (.+)\r\n/.exec(part)![1];
      const status = Number(/HTTP\/1\.1 (\d{3})/.exec(part)![1]);
      const body = part.split("\r\n\r\n").slice(2).join("\r\n\r\n").trim();
      return { contentId, status, json: body ? JSON.parse(body) : undefined };
    });
}

async function batch(path: string, calls: Array<{ id: string; line: string; body?: unknown }>) {
  const boundary = "batch_test_boundary";
  const res = await fetch(`${h.base}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": `multipart/mixed; boundary=${boundary}` },
    body: batchBody(boundary, calls),
  });
  return { status: res.status, contentType: res.headers.get("content-type") ?? "", text: await res.text() };
}

describe("batch endpoint", () => {
  it("runs inner calls in order at both paths and answers response-<id> parts", async () => {
    const list = await fetch(`${h.base}/gmail/v1/users/me/messages?maxResults=3`, { headers: { authorization: `Bearer ${token}` } });
    const ids = ((await list.json()) as { messages: Array<{ id: string }> }).messages.map((m) => m.id);
    for (const path of ["/batch/gmail/v1", "/batch"]) {
      await h.admin("POST", "/_admin/stats/reset");
      const res = await batch(path, [
        { id: "<item1>", line: `GET /gmail/v1/users/me/messages/${ids[0]}?format=minimal` },
        { id: "item2", line: `POST /gmail/v1/users/me/messages/${ids[1]}/modify`, body: { addLabelIds: ["STARRED"] } },
        { id: "item3", line: "GET /gmail/v1/users/me/messages/18f00000000fffff" },
        { id: "item4", line: `DELETE /gmail/v1/users/me/messages/${ids[2]}` },
      ]);
      expect(res.status).toBe(200);
      expect(res.contentType).toMatch(/^multipart\/mixed; boundary=/);
      const parts = parseBatch(res.contentType, res.text);
      expect(parts.map((p) => [p.contentId, p.status])).toEqual([
        ["<response-item1>", 200],
        ["response-item2", 200],
        ["response-item3", 404],
        ["response-item4", 403],
      ]);
      expect(parts[0].json).toMatchObject({ id: ids[0] });
      expect(parts[1].json.labelIds).toContain("STARRED");
      expect(parts[2].json.error.errors[0].reason).toBe("notFound");
      expect(parts[3].json.error.errors[0].reason).toBe("insufficientPermissions");
      // Each inner call counts against quota: 5 + 5 + 5 (the 404 still costs) and the refused delete nothing.
      const stats = (await h.admin("GET", "/_admin/stats")).body.users[ME];
      expect(stats).toMatchObject({ requests: 4, quotaUnits: 15 });
    }
  });

  it("refuses more than 100 calls and a body that is not multipart/mixed", async () => {
    const calls = Array.from({ length: 101 }, (_, i) => ({ id: `i${i}`, line: "GET /gmail/v1/users/me/profile" }));
    const res = await batch("/batch/gmail/v1", calls);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).error.code).toBe(400);
    const bad = await fetch(`${h.base}/batch/gmail/v1`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(bad.status).toBe(400);
  });

  it("answers 401 inside the part when the token is bad", async () => {
    const boundary = "b2";
    const res = await fetch(`${h.base}/batch`, {
      method: "POST",
      headers: { authorization: "Bearer nope", "content-type": `multipart/mixed; boundary=${boundary}` },
      body: batchBody(boundary, [{ id: "a", line: "GET /gmail/v1/users/me/profile" }]),
    });
    const [part] = parseBatch(res.headers.get("content-type")!, await res.text());
    expect(part.status).toBe(401);
    expect(part.json.error.errors[0].reason).toBe("authError");
  });
});
