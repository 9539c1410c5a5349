/**
 * Bearer-token checks shared by Gmail and userinfo.
 */
import { authError, loginRequired } from "./errors.ts";
import type { AccessToken, EmulatorState } from "./state.ts";

/** The live access token in an `Authorization: Bearer` header, or Google's 401. */
export function bearer(state: EmulatorState, header: string | undefined): AccessToken {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!match) throw header ? authError() : loginRequired();
  const token = state.accessTokens.get(match[1]);
  if (!token || state.now() >= token.expiresAt || !state.liveGrant(token.grantId)) throw authError();
  return token;
}
