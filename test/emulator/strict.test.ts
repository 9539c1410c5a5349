/**
 * Where the emulator was looser than Google (issue 12 item 5), each behaviour as GOOGLE.md
 * describes it, driven through the real Google client libraries.
 */
import MailComposer from "nodemailer/lib/mail-composer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorize, failure, gmailFor, harness, insufficientScopesBody, SCOPES, type Harness } from "./helpers.ts";

let h: Harness;
const ME = "strict@x.test";

function raw(opts: { subject?: string; to?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) =>
    new MailComposer({ from: ME, to: opts.to ?? "someone@x.test", subject: opts.subject ?? "s", text: "x" })
      .compile()
      .build((e, m) => (e ? reject(e) : resolve(m.toString("base64url")))),
  );
}

beforeAll(async () => {
  h = await harness();
  await h.admin("POST", "/_admin/users", { email: ME });
});
afterAll(() => h.close());

describe("scopes per method", () => {
  it("gmail.send may send a message but not send a draft (403), as the discovery document says", async () => {
    const { auth: composeAuth } = await authorize(h, { email: ME, scopes: [SCOPES.compose] });
    const draft = await gmailFor(h, composeAuth).users.drafts.create({ userId: "me", requestBody: { message: { raw: await raw() } } });
    const { auth: sendAuth } = await authorize(h, { email: ME, scopes: [SCOPES.send] });
    const sendOnly = gmailFor(h, sendAuth);
    expect((await sendOnly.users.messages.send({ userId: "me", requestBody: { raw: await raw() } })).status).toBe(200);
    expect(await failure(sendOnly.users.drafts.send({ userId: "me", requestBody: { id: draft.data.id! } }))).toEqual({
      status: 403,
      data: insufficientScopesBody,
    });
    // With gmail.compose the same draft goes out.
    expect((await gmailFor(h, composeAuth).users.drafts.send({ userId: "me", requestBody: { id: draft.data.id! } })).status).toBe(200);
  });
});
