/** The Message-ID a copy's ledger entry carries, read from the raw bytes' top-level header block only. */
import { describe, expect, it } from "vitest";
import { rawMessageId } from "../../connector/gmail-export.ts";

const crlf = (...lines: string[]) => Buffer.from(lines.join("\r\n"));

describe("rawMessageId", () => {
  it("reads the header, unfolded and whatever its case", async () => {
    expect(await rawMessageId(crlf("From: a@example.com", "message-id:", " <folded@example.com>", "Subject: x", "", "body"))).toBe("<folded@example.com>");
  });

  it("takes the message's own header, not one in the body or in an attached message", async () => {
    const raw = crlf(
      "From: a@example.com",
      "Message-ID: <outer@example.com>",
      'Content-Type: multipart/mixed; boundary="b"',
      "",
      "Message-ID: <not-a-header@example.com>",
      "--b",
      "Content-Type: message/rfc822",
      "",
      "Message-ID: <inner@example.com>",
      "",
      "inner body",
      "--b--",
      "",
    );
    expect(await rawMessageId(raw)).toBe("<outer@example.com>");
  });

  it("is undefined without one, or for a message that is all header", async () => {
    expect(await rawMessageId(crlf("From: a@example.com", "Subject: none", "", "body"))).toBeUndefined();
    expect(await rawMessageId(Buffer.from("Subject: no body"))).toBeUndefined();
    expect(await rawMessageId(Buffer.from("Message-ID: <only@example.com>"))).toBe("<only@example.com>");
  });
});
