/**
 * Generated mail for the archive tests: the awkward shapes a mailbox holds
 * (attachments, non-ASCII, raw 8-bit bytes, lines starting with From and
 * >From, multipart, message/rfc822 parts, LF-only and unterminated messages).
 */
import { createHash } from "node:crypto";
import MailComposer from "nodemailer/lib/mail-composer";

const compose = (mail: ConstructorParameters<typeof MailComposer>[0]): Promise<Buffer> =>
  new Promise((resolve, reject) => new MailComposer(mail).compile().build((err, message) => (err ? reject(err) : resolve(message))));

/** Bytes 0x80..0xff that are not UTF-8: a Latin-1 body sent as 8bit. */
function eightBit(i: number): Buffer {
  return Buffer.concat([
    Buffer.from(`From: old@x.test\r\nTo: me@x.test\r\nSubject: 8bit ${i}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`),
    Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65, 0x0d, 0x0a, 0xff, 0xfe, 0x80, 0x0d, 0x0a]),
    Buffer.from(`From the start of a line\r\n>From quoted once\r\n>>From quoted twice\r\n>>>From\r\nFrom \r\n`),
  ]);
}

/** The `i`th message of a generated mailbox (deterministic). */
export async function generatedMessage(i: number): Promise<Buffer> {
  const date = new Date(Date.UTC(2020, 0, 1) + i * 3_600_000);
  switch (i % 7) {
    case 0:
      return compose({ from: "a@x.test", to: "b@x.test", subject: `plain ${i}`, date, text: `Hello ${i}\nFrom here on, a line that starts with From.\n>From a quoted one\n` });
    case 1:
      return compose({
        from: "Zoë <z@x.test>",
        to: "Ünïcödé <u@x.test>",
        subject: `Grüße, 日本語 ${i}`,
        date,
        text: `Ça va? 🎉 ${i}`,
        html: `<p>Ça va? <b>🎉</b> ${i}</p>`,
      });
    case 2:
      return compose({
        from: "a@x.test",
        to: "b@x.test",
        subject: `attachments ${i}`,
        date,
        text: "see attached",
        attachments: [
          { filename: "data.bin", content: createHash("sha512").update(String(i)).digest() },
          { filename: "notes.txt", content: "From the notes\n>From more notes\n" },
        ],
      });
    case 3:
      return eightBit(i);
    case 4: {
      const inner = await compose({ from: "inner@x.test", to: "b@x.test", subject: "forwarded", date, text: "From inside the forwarded one\n" });
      return compose({
        from: "a@x.test",
        to: "b@x.test",
        subject: `forward ${i}`,
        date,
        text: "forwarding",
        attachments: [{ filename: "forwarded.eml", content: inner, contentType: "message/rfc822" }],
      });
    }
    case 5:
      // LF-only line ends and a message that starts like Takeout's own lines.
      return Buffer.from(`X-GM-THRID: 123\nX-Gmail-Labels: Original\nSubject: lf ${i}\n\nbody\n\n\nFrom x\n`);
    default:
      // No final line end, and a last line that starts with >From.
      return Buffer.from(`Subject: unterminated ${i}\r\n\r\nlast line\r\n>From the end`);
  }
}
