/**
 * The Gmail scope catalogue: every scope a Gmail connection may request, with
 * its label, description and Google's sensitivity class (GOOGLE.md "Gmail
 * scopes"). A plugin file: it imports nothing from `server/`.
 */
export type ScopeSensitivity = "non-sensitive" | "sensitive" | "restricted";

export interface ScopeInfo {
  /** The full scope URL sent to Google. */
  scope: string;
  label: string;
  description: string;
  sensitivity: ScopeSensitivity;
}

const G = "https://www.googleapis.com/auth/";

/** Always requested, so the callback can learn the account's address. */
export const USERINFO_EMAIL_SCOPE = `${G}userinfo.email`;
export const USERINFO_PROFILE_SCOPE = `${G}userinfo.profile`;
export const FULL_MAIL_SCOPE = "https://mail.google.com/";

/** Every scope offered for Gmail, in the order the UI lists them. */
export const GMAIL_SCOPES: readonly ScopeInfo[] = Object.freeze([
  { scope: FULL_MAIL_SCOPE, label: "Full mailbox access", description: "Read, compose, send and permanently delete all your email from Gmail.", sensitivity: "restricted" },
  { scope: `${G}gmail.readonly`, label: "Read mail", description: "View your email messages and settings.", sensitivity: "restricted" },
  { scope: `${G}gmail.send`, label: "Send mail", description: "Send email on your behalf.", sensitivity: "sensitive" },
  { scope: `${G}gmail.compose`, label: "Compose drafts and send", description: "Manage drafts and send email.", sensitivity: "restricted" },
  { scope: `${G}gmail.modify`, label: "Read, change and send", description: "Read, compose and send email; change labels; move to trash (no permanent deletion).", sensitivity: "restricted" },
  { scope: `${G}gmail.insert`, label: "Add mail", description: "Add emails into your Gmail mailbox (insert and import).", sensitivity: "restricted" },
  { scope: `${G}gmail.labels`, label: "Manage labels", description: "See and edit your email labels.", sensitivity: "non-sensitive" },
  { scope: `${G}gmail.metadata`, label: "Read metadata", description: "View email metadata such as labels and headers, but not the body.", sensitivity: "restricted" },
  { scope: `${G}gmail.settings.basic`, label: "Manage basic settings", description: "See, edit, create or change your email settings and filters.", sensitivity: "restricted" },
  { scope: USERINFO_EMAIL_SCOPE, label: "Email address", description: "See your primary Google Account email address (always requested).", sensitivity: "non-sensitive" },
  { scope: USERINFO_PROFILE_SCOPE, label: "Basic profile", description: "See your personal info, including any personal info you've made publicly available.", sensitivity: "non-sensitive" },
].map((s) => Object.freeze(s as ScopeInfo)));

/** Every scope URL of the catalogue. */
export const GMAIL_SCOPE_URLS: readonly string[] = Object.freeze(GMAIL_SCOPES.map((s) => s.scope));

/** What the Create connection pane preselects: read and send, plus the address. */
export const defaultScopes: readonly string[] = Object.freeze([`${G}gmail.readonly`, `${G}gmail.send`, USERINFO_EMAIL_SCOPE]);

export function isKnownScope(scope: string): boolean {
  return GMAIL_SCOPE_URLS.includes(scope);
}

/**
 * The scopes to request for a connection: the caller's scopes in their order,
 * duplicates dropped, with `userinfo.email` appended when missing.
 */
export function withRequiredScopes(scopes: readonly string[]): string[] {
  const out = [...new Set(scopes)];
  if (!out.includes(USERINFO_EMAIL_SCOPE)) out.push(USERINFO_EMAIL_SCOPE);
  return out;
}

/** Scopes of `requested` that are not in `granted`. */
export function missingScopes(requested: readonly string[], granted: readonly string[]): string[] {
  const have = new Set(granted);
  return requested.filter((s) => !have.has(s));
}

/** True when both lists hold the same scopes, in any order. */
export function sameScopes(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((s) => sb.has(s));
}
