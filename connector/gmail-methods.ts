/**
 * Which granted scopes let each Gmail method run (GOOGLE.md). Checked before
 * any call to Google, so a connection missing a scope fails with
 * `missing_scope` naming what it needs.
 */
import { MissingScopeError } from "./errors.ts";

const G = "https://www.googleapis.com/auth/gmail.";
const MAIL = "https://mail.google.com/";
const s = (...names: string[]) => names.map((n) => (n === "mail" ? MAIL : G + n));

export const METHOD_SCOPES = {
  getProfile: s("mail", "metadata", "modify", "readonly", "compose"),
  "history.list": s("mail", "metadata", "modify", "readonly"),
  "users.watch": s("mail", "metadata", "modify", "readonly"),
  "users.stop": s("mail", "metadata", "modify", "readonly"),
  "messages.list": s("mail", "metadata", "modify", "readonly"),
  "messages.get": s("mail", "metadata", "modify", "readonly"),
  "attachments.get": s("mail", "modify", "readonly"),
  "messages.send": s("mail", "compose", "modify", "send"),
  "drafts.create": s("mail", "compose", "modify"),
  "drafts.send": s("mail", "compose", "modify"),
  "messages.insert": s("mail", "insert", "modify"),
  "messages.import": s("mail", "insert", "modify"),
  "messages.modify": s("mail", "modify"),
  "messages.trash": s("mail", "modify"),
  "messages.untrash": s("mail", "modify"),
  "messages.batchModify": s("mail", "modify"),
  "messages.delete": s("mail"),
  "labels.list": s("mail", "labels", "metadata", "modify", "readonly"),
  "labels.create": s("mail", "labels", "modify"),
} as const satisfies Record<string, readonly string[]>;

export type GmailMethod = keyof typeof METHOD_SCOPES;

/** Throws {@link MissingScopeError} unless one of the granted scopes allows `method`. */
export function assertScopeFor(method: GmailMethod, granted: readonly string[]): void {
  const accepted = METHOD_SCOPES[method];
  if (!accepted.some((scope) => granted.includes(scope))) throw new MissingScopeError(method, accepted);
}
