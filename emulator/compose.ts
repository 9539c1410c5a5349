/**
 * Building RFC 5322 bytes with nodemailer's MailComposer (never by hand).
 */
import MailComposer from "nodemailer/lib/mail-composer";
import type Mail from "nodemailer/lib/mailer";

export type MailOptions = Mail.Options;

export function compose(options: MailOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    new MailComposer(options).compile().build((err, message) => (err ? reject(err) : resolve(message)));
  });
}
