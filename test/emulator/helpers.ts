/**
 * Test support: a real emulator on a free port with a movable clock, the real Google clients
 * pointed at it, and the consent form driven over raw HTTP.
 */
import { randomBytes } from "node:crypto";
import { gmail, type gmail_v1 } from "@googleapis/gmail";
import { CodeChallengeMethod, OAuth2Client } from "google-auth-library";
import { startEmulator } from "../../emulator/index.ts";

export const SCOPES = {
  mail: "https://mail.google.com/",
  readonly: "https://www.googleapis.com/auth/gmail.readonly",
  send: "https://www.googleapis.com/auth/gmail.send",
  compose: "https://www.googleapis.com/auth/gmail.compose",
  modify: "https://www.googleapis.com/auth/gmail.modify",
  insert: "https://www.googleapis.com/auth/gmail.insert",
  labels: "https://www.googleapis.com/auth/gmail.labels",
  metadata: "https://www.googleapis.com/auth/gmail.metadata",
  email: "https://www.googleapis.com/auth/userinfo.email",
  profile: "https://www.googleapis.com/auth/userinfo.profile",
};

export const REDIRECT = "http://localhost:5555/oauth2/callback";

export interface Harness {
  base: string;
  clock: { now: number; advance(ms: number): void };
  close(): Promise<void>;
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Registers a fresh OAuth client; returns its id and secret. */
  client(opts?: { testing?: boolean; redirectUris?: string[] }): Promise<{ clientId: string; clientSecret: string }>;
  oauth(client: { clientId: string; clientSecret: string }): OAuth2Client;
}

export async function harness(): Promise<Harness> {
  const clock = {
    now: Date.UTC(2026, 5, 15, 12, 0, 0),
    advance(ms: number) {
      clock.now += ms;
    },
  };
  const emulator = await startEmulator({ port: 0, now: () => clock.now });
  const base = emulator.baseUrl;
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    base,
    clock,
    close: emulator.close,
    admin,
    async client(opts = {}) {
      const clientId = `${randomBytes(6).toString("hex")}.apps.googleusercontent.com`;
      const clientSecret = `GOCSPX-${randomBytes(12).toString("hex")}`;
      const res = await admin("POST", "/_admin/clients", { clientId, clientSecret, redirectUris: opts.redirectUris ?? [REDIRECT], testing: opts.testing });
      if (res.status !== 201) throw new Error(`client: ${res.status}`);
      return { clientId, clientSecret };
    },
    oauth(client) {
      return new OAuth2Client({
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        redirectUri: REDIRECT,
        endpoints: {
          oauth2AuthBaseUrl: `${base}/o/oauth2/v2/auth`,
          oauth2TokenUrl: `${base}/token`,
          oauth2RevokeUrl: `${base}/revoke`,
        },
      });
    },
  };
}

/** Reads the consent page's hidden fields, the way a browser would submit them. */
export function hiddenFields(html: string): Array<[string, string]> {
  const unescape = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  return [...html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)].map((m) => [unescape(m[1]), unescape(m[2])]);
}

export interface ConsentResult {
  status: number;
  location?: URL;
  html: string;
}

/** Opens the authorize URL, fills the consent form and submits it, without following the redirect. */
export async function consent(
  authorizeUrl: string,
  opts: { email: string; decision?: "allow" | "deny"; grant?: (scope: string) => boolean },
): Promise<ConsentResult> {
  const page = await fetch(authorizeUrl);
  const html = await page.text();
  if (page.status !== 200) return { status: page.status, html };
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  if (!action) throw new Error("no consent form");
  const scopes = [...html.matchAll(/name="granted_scope" value="([^"]*)"/g)].map((m) => m[1]);
  const form = new URLSearchParams(hiddenFields(html));
  form.set("email", opts.email);
  for (const s of scopes) if (!opts.grant || opts.grant(s)) form.append("granted_scope", s);
  form.set("decision", opts.decision ?? "allow");
  const res = await fetch(new URL(action, page.url), { method: "POST", body: form, redirect: "manual" });
  const location = res.headers.get("location");
  return { status: res.status, location: location ? new URL(location) : undefined, html: await res.text() };
}

/** Runs the whole consent flow with PKCE and returns an authorized OAuth2Client. */
export async function authorize(
  h: Harness,
  opts: { email: string; scopes: string[]; client?: { clientId: string; clientSecret: string } },
): Promise<{ auth: OAuth2Client; tokens: Record<string, any>; client: { clientId: string; clientSecret: string } }> {
  const client = opts.client ?? (await h.client());
  const auth = h.oauth(client);
  const { codeVerifier, codeChallenge } = await auth.generateCodeVerifierAsync();
  const url = auth.generateAuthUrl({
    access_type: "offline",
    prompt: "consent",
    scope: opts.scopes,
    state: "s1",
    code_challenge: codeChallenge,
    code_challenge_method: CodeChallengeMethod.S256,
  });
  const result = await consent(url, { email: opts.email });
  const code = result.location?.searchParams.get("code");
  if (!code) throw new Error(`no code: ${result.status} ${result.html}`);
  const { tokens } = await auth.getToken({ code, codeVerifier });
  auth.setCredentials(tokens);
  return { auth, tokens, client };
}

export function gmailFor(h: Harness, auth: OAuth2Client): gmail_v1.Gmail {
  // retry: false so refusals reach the test as they are (the client would retry GETs on 429).
  return gmail({ version: "v1", auth, rootUrl: `${h.base}/`, retry: false });
}

/** The status and body of a rejected Google client call. */
export async function failure(promise: Promise<unknown>): Promise<{ status: number; data: any }> {
  try {
    await promise;
  } catch (err) {
    const e = err as { response?: { status: number; data: unknown }; status?: number };
    if (e.response) return { status: e.response.status, data: e.response.data };
    throw err;
  }
  throw new Error("expected the call to fail");
}

export const insufficientScopesBody = {
  error: {
    code: 403,
    message: "Request had insufficient authentication scopes.",
    errors: [{ message: "Insufficient Permission", domain: "global", reason: "insufficientPermissions" }],
    status: "PERMISSION_DENIED",
  },
};

export const authErrorBody = {
  error: {
    errors: [{ domain: "global", reason: "authError", message: "Invalid Credentials", locationType: "header", location: "Authorization" }],
    code: 401,
    message: "Invalid Credentials",
  },
};
