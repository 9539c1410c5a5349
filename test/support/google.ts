/**
 * The Google emulator over real HTTP for integration tests, and the steps a
 * person takes on its consent page, driven through its form contract (SPEC §3).
 */
import { startEmulator } from "../../emulator/index.ts";
import { randomBytes } from "node:crypto";

export interface TestGoogle {
  baseUrl: string;
  /** The Google URL variables of SPEC §1 pointing at this emulator (GOOGLE_CERTS_URL: its ID tokens' keys). */
  env: Record<string, string>;
  admin<T = any>(method: "GET" | "POST" | "PUT", path: string, body?: unknown): Promise<T>;
  /** Register an OAuth client; returns its credentials. */
  newClient(redirectUris: string[], opts?: { testing?: boolean }): Promise<{ clientId: string; clientSecret: string }>;
  newUser(email?: string, opts?: { generate?: number }): Promise<string>;
  close(): Promise<void>;
}

/** The emulator in this process, on a free port. */
export async function startGoogle(): Promise<TestGoogle> {
  const emu = await startEmulator({ port: 0, host: "127.0.0.1" });
  return connectGoogle(emu.baseUrl, () => emu.close());
}

/**
 * The same calls against an emulator that is already running at `b` (another process's, for
 * instance); `close` is what {@link TestGoogle.close} does (nothing by default).
 */
export function connectGoogle(b: string, close: () => Promise<void> = async () => {}): TestGoogle {
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${b}/_admin${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`emulator admin ${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  return {
    baseUrl: b,
    env: googleEnv(b),
    admin,
    async newClient(redirectUris, opts = {}) {
      const clientId = `${randomBytes(6).toString("hex")}.apps.googleusercontent.com`;
      const clientSecret = `GOCSPX-${randomBytes(12).toString("base64url")}`;
      await admin("POST", "/clients", { clientId, clientSecret, redirectUris, testing: opts.testing ?? false });
      return { clientId, clientSecret };
    },
    async newUser(email = `user-${randomBytes(4).toString("hex")}@example.com`, opts = {}) {
      await admin("POST", "/users", { email, name: "Test User", ...(opts.generate ? { generate: { count: opts.generate } } : {}) });
      return email;
    },
    close,
  };
}

/**
 * What a person does on the consent page at `authorizeUrl`: open it, then
 * allow (optionally unticking scopes) or deny. Returns where Google redirects.
 */
export async function consent(
  authorizeUrl: string,
  opts: { email: string; decision?: "allow" | "deny"; untick?: string[] },
): Promise<{ page: string; redirect: URL }> {
  const pageRes = await fetch(authorizeUrl);
  const page = await pageRes.text();
  if (!pageRes.ok) return { page, redirect: new URL("about:blank") };
  const params = new URL(authorizeUrl).searchParams;
  const form = new URLSearchParams(params);
  form.set("email", opts.email);
  form.set("decision", opts.decision ?? "allow");
  for (const scope of (params.get("scope") ?? "").split(" ").filter(Boolean)) {
    if (!opts.untick?.includes(scope)) form.append("granted_scope", scope);
  }
  const decisionUrl = new URL(authorizeUrl);
  decisionUrl.pathname = `${decisionUrl.pathname}/decision`;
  decisionUrl.search = "";
  const res = await fetch(decisionUrl, { method: "POST", body: form, redirect: "manual" });
  const location = res.headers.get("location");
  if (res.status !== 302 || !location) throw new Error(`consent decision answered ${res.status}: ${await res.text()}`);
  return { page, redirect: new URL(location) };
}

/**
 * Save & authorize a connection of `app` end to end: start the attempt, allow on
 * the emulator's consent page, deliver Google's redirect to the app's callback.
 */
export async function authorizeConnection(
  app: import("fastify").FastifyInstance,
  token: string,
  connectionId: string,
  opts: Parameters<typeof consent>[1],
): Promise<{ statusCode: number; body: string }> {
  const start = await app.inject({ method: "POST", url: `/v1/connections/${connectionId}/authorize`, headers: { authorization: `Bearer ${token}` } });
  if (start.statusCode !== 200) throw new Error(`authorize answered ${start.statusCode}: ${start.body}`);
  const { redirect } = await consent(start.json().authorizeUrl, opts);
  return app.inject({ method: "GET", url: redirect.pathname + redirect.search });
}

/** The service's Google endpoint settings for an emulator (or any Google stand-in) at `base`. */
export function googleEnv(base: string): Record<string, string> {
  return {
    GOOGLE_AUTH_URL: `${base}/o/oauth2/v2/auth`,
    GOOGLE_TOKEN_URL: `${base}/token`,
    GOOGLE_REVOKE_URL: `${base}/revoke`,
    GOOGLE_USERINFO_URL: `${base}/oauth2/v2/userinfo`,
    GMAIL_API_URL: `${base}/`,
    GOOGLE_CERTS_URL: `${base}/oauth2/v3/certs`,
  };
}
