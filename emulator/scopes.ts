/**
 * Scope URLs and which of them each Gmail method accepts (GOOGLE.md "Gmail scopes").
 */

const G = "https://www.googleapis.com/auth/";

export const SCOPE = {
  mail: "https://mail.google.com/",
  readonly: `${G}gmail.readonly`,
  send: `${G}gmail.send`,
  compose: `${G}gmail.compose`,
  modify: `${G}gmail.modify`,
  insert: `${G}gmail.insert`,
  labels: `${G}gmail.labels`,
  metadata: `${G}gmail.metadata`,
  settingsBasic: `${G}gmail.settings.basic`,
  email: `${G}userinfo.email`,
  profile: `${G}userinfo.profile`,
} as const;

/**
 * Every scope this stand-in knows: sign-in and the Gmail API's (its discovery document). An
 * authorization request for anything else gets Google's `invalid_scope` error page.
 */
const KNOWN = new Set<string>([
  ...Object.values(SCOPE),
  "openid",
  "email",
  "profile",
  `${G}gmail.settings.sharing`,
  `${G}gmail.addons.current.action.compose`,
  `${G}gmail.addons.current.message.action`,
  `${G}gmail.addons.current.message.metadata`,
  `${G}gmail.addons.current.message.readonly`,
]);

export function isKnownScope(scope: string): boolean {
  return KNOWN.has(scope);
}

/** Sign-in scopes: always granted, the user cannot untick them. */
const SIGN_IN = new Set(["openid", "email", "profile", SCOPE.email, SCOPE.profile]);

export function isSignInScope(scope: string): boolean {
  return SIGN_IN.has(scope);
}

export function grantsEmail(scopes: readonly string[]): boolean {
  return scopes.includes("email") || scopes.includes(SCOPE.email);
}

export function grantsProfile(scopes: readonly string[]): boolean {
  return scopes.includes("profile") || scopes.includes(SCOPE.profile);
}

const { mail, readonly, send, compose, modify, insert, labels, metadata } = SCOPE;

/**
 * Accepted scopes per Gmail method (GOOGLE.md "Scopes per method", from the discovery document):
 * `gmail.send` may call `messages.send` but not `drafts.send`.
 */
export const METHOD_SCOPES = {
  getProfile: [mail, metadata, modify, readonly, compose],
  historyList: [mail, metadata, modify, readonly],
  messagesRead: [mail, metadata, modify, readonly],
  attachmentsGet: [mail, modify, readonly],
  messagesSend: [mail, compose, modify, send, `${G}gmail.addons.current.action.compose`],
  draftsWrite: [mail, compose, modify],
  draftsSend: [mail, compose, modify],
  draftsRead: [mail, compose, modify, readonly],
  messagesInsert: [mail, insert, modify],
  messagesModify: [mail, modify],
  messagesDelete: [mail],
  labelsRead: [mail, labels, metadata, modify, readonly],
  labelsWrite: [mail, labels, modify],
} as const satisfies Record<string, readonly string[]>;

export function hasMetadataScope(scopes: readonly string[]): boolean {
  return scopes.includes(metadata);
}
