/**
 * The emulator's benchmark helpers (emulator/gmail-watch.ts): `POST /_admin/arrivals` lands
 * mail in several mailboxes at once, announced to their watches like any arrival, and
 * `GET /_admin/users/:email/arrivals?after=` lists what a mailbox received since a historyId,
 * `POST /_admin/arrivals/since` what several did.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawMessage } from "../flows/support.ts";
import { startGoogle, type TestGoogle } from "../support/google.ts";

describe("emulator arrivals", () => {
  let google: TestGoogle;
  beforeAll(async () => {
    google = await startGoogle();
  });
  afterAll(() => google?.close());

  it("lands mail in several mailboxes in one call and lists each mailbox's arrivals after a historyId", async () => {
    const a = await google.newUser();
    const b = await google.newUser();
    const before = (await google.admin("GET", `/users/${a}/arrivals?after=0`)).historyId as string;
    const res = await google.admin("POST", "/arrivals", {
      messages: [
        { email: a, raw: rawMessage({ to: a, subject: "a1" }) },
        { email: b, raw: rawMessage({ to: b, subject: "b1" }) },
        { email: a, raw: rawMessage({ to: a, subject: "a2" }), labelIds: ["INBOX"] },
      ],
    });
    expect(res.ids).toHaveLength(3);
    const got = await google.admin("GET", `/users/${a}/arrivals?after=${before}`);
    expect(got.messages.map((m: { subject: string }) => m.subject)).toEqual(["a1", "a2"]);
    const later = await google.admin("GET", `/users/${a}/arrivals?after=${got.messages[0].historyId}`);
    expect(later.messages.map((m: { subject: string }) => m.subject)).toEqual(["a2"]);
    expect((await google.admin("GET", `/users/${b}`)).messages.map((m: { subject: string }) => m.subject)).toEqual(["b1"]);
    await expect(google.admin("POST", "/arrivals", { messages: [{ email: "nobody@example.com", raw: "x" }] })).rejects.toThrow(/404/);

    const since = await google.admin("POST", "/arrivals/since", { after: { [a]: got.messages[0].historyId, [b]: "0" } });
    expect(since.users[a].messages.map((m: { subject: string }) => m.subject)).toEqual(["a2"]);
    expect(since.users[a].historyId).toBe(got.historyId);
    expect(since.users[b].messages.map((m: { subject: string }) => m.subject)).toEqual(["b1"]);
    await expect(google.admin("POST", "/arrivals/since", { after: { "nobody@example.com": "0" } })).rejects.toThrow(/404/);
    await expect(google.admin("POST", "/arrivals/since", { after: { [a]: "-1" } })).rejects.toThrow(/400/);
  });
});
