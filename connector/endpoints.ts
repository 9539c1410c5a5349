/** Where Google lives: the real URLs by default, an emulator's in sandbox mode. */
export interface GoogleEndpoints {
  /** Authorization endpoint (the consent page). */
  authUrl: string;
  tokenUrl: string;
  revokeUrl: string;
  /** OAuth2 v2 userinfo (`email`, `verified_email`, ...). */
  userinfoUrl: string;
  /** Root URL of the Gmail API, ending with `/`. */
  gmailUrl: string;
}

export const REAL_GOOGLE: Readonly<GoogleEndpoints> = Object.freeze({
  authUrl: "https://accounts.google.com/o/oauth2/v2/auth",
  tokenUrl: "https://oauth2.googleapis.com/token",
  revokeUrl: "https://oauth2.googleapis.com/revoke",
  userinfoUrl: "https://www.googleapis.com/oauth2/v2/userinfo",
  gmailUrl: "https://gmail.googleapis.com/",
});

/** The Google URLs of an emulator whose base URL is `base` (SPEC §3). */
export function emulatorEndpoints(base: string): GoogleEndpoints {
  return {
    authUrl: `${base}/o/oauth2/v2/auth`,
    tokenUrl: `${base}/token`,
    revokeUrl: `${base}/revoke`,
    userinfoUrl: `${base}/oauth2/v2/userinfo`,
    gmailUrl: `${base}/`,
  };
}
