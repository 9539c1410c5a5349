/**
 * oidc-provider (panva's certified OpenID provider) standing in for Google, for interop tests:
 * Google's scope strings, refresh-token rotation with reuse detection (a consumed refresh token
 * revokes the whole grant), client authentication at revocation, `iss` on authorization
 * responses (RFC 9207). Gmail is stood in for by a resource server that asks the provider's
 * userinfo endpoint whether a bearer token is alive. Only the URLs of SPEC §1 change.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { Provider } from "oidc-provider";
import { GMAIL_SCOPE_URLS, USERINFO_EMAIL_SCOPE } from "../../connector/scopes.ts";

export interface RevocationSeen {
  /** The revocation request's query string: must be empty (the token goes in the body). */
  query: string;
  status: number;
  /** The client the provider authenticated, when it did. */
  clientId?: string;
}

export interface TestOidcProvider {
  issuer: string;
  client: { clientId: string; clientSecret: string };
  /** The Google URL variables of SPEC §1 pointing at this provider and the Gmail stand-in. */
  env: Record<string, string>;
  /** Behaviours a real server may show, switched by the test. */
  switches: { omitScope: boolean; refuseRevocation: boolean };
  revocations: RevocationSeen[];
  /** Refresh-token grants the provider answered with success. */
  refreshes(): number;
  /** Log in and consent on the provider's own pages at `authorizeUrl`; returns the redirect to `callbackUrl`. */
  consent(authorizeUrl: string, email: string): Promise<URL>;
  /** What the provider says of a refresh token used directly (this consumes it when it works). */
  refresh(refreshToken: string): Promise<{ status: number; error?: string }>;
  /** RFC 7662 introspection: is the token alive, without using it? */
  active(token: string): Promise<boolean>;
  close(): Promise<void>;
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function startOidcProvider(callbackUrl: string): Promise<TestOidcProvider> {
  const client = { clientId: `mailbridge-${randomBytes(4).toString("hex")}`, clientSecret: randomBytes(24).toString("base64url") };
  const switches = { omitScope: false, refuseRevocation: false };
  const revocations: RevocationSeen[] = [];
  let refreshes = 0;

  const providerServer = http.createServer();
  const issuer = await listen(providerServer);
  const key = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: client.clientId,
        client_secret: client.clientSecret,
        redirect_uris: [callbackUrl],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_post",
      },
    ],
    jwks: { keys: [{ ...key, kid: "interop-1", use: "sig", alg: "RS256" } as any] },
    // Google's scope strings, as Google's own server knows them.
    scopes: ["openid", "email", "offline_access", USERINFO_EMAIL_SCOPE, ...GMAIL_SCOPE_URLS],
    claims: { email: ["email", "email_verified"], [USERINFO_EMAIL_SCOPE]: ["email", "email_verified"] },
    // Like Google: the ID token carries the address even when an access token is issued too.
    conformIdTokenClaims: false,
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub, email: sub, email_verified: true }) }),
    features: { revocation: { enabled: true }, introspection: { enabled: true }, devInteractions: { enabled: true } },
    // Offline access the Google way (access_type=offline), not through the offline_access scope.
    issueRefreshToken: async (_ctx, c) => c.grantTypeAllowed("refresh_token"),
    rotateRefreshToken: true,
    // Under Mailbridge's 60 s refresh margin: every use of a connection refreshes first.
    ttl: { AccessToken: 30, AuthorizationCode: 60, IdToken: 3600, RefreshToken: 86400, Grant: 86400, Interaction: 600, Session: 3600 },
    pkce: { required: () => true },
  });
  provider.on("grant.success", (ctx) => {
    if ((ctx as any).oidc.params?.grant_type === "refresh_token") refreshes += 1;
  });
  provider.use(async (ctx, next) => {
    if (ctx.path === "/token/revocation" && switches.refuseRevocation) {
      ctx.status = 400;
      ctx.body = { error: "invalid_request", error_description: "revocation refused for this test" };
      revocations.push({ query: ctx.querystring, status: 400 });
      return;
    }
    await next();
    if (ctx.path === "/token/revocation") revocations.push({ query: ctx.querystring, status: ctx.status, clientId: (ctx as any).oidc?.client?.clientId });
    // A token response without `scope` (RFC 6749 §5.1: "as requested").
    if (ctx.path === "/token" && switches.omitScope && ctx.body && typeof ctx.body === "object") delete (ctx.body as any).scope;
  });
  providerServer.on("request", provider.callback());

  // Gmail's stand-in: a resource server that accepts a bearer token the provider says is alive.
  const gmailServer = http.createServer(async (req, res) => {
    const userinfo = await fetch(`${issuer}/me`, { headers: { authorization: req.headers.authorization ?? "" } });
    if (req.url !== "/gmail/v1/users/me/profile" || !userinfo.ok) {
      res.writeHead(userinfo.ok ? 404 : 401, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: 401, message: "Request had invalid authentication credentials.", status: "UNAUTHENTICATED" } }));
      return;
    }
    const { email } = (await userinfo.json()) as { email: string };
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ emailAddress: email, messagesTotal: 0, threadsTotal: 0, historyId: "1" }));
  });
  const gmailUrl = await listen(gmailServer);

  return {
    issuer,
    client,
    env: {
      GOOGLE_AUTH_URL: `${issuer}/auth`,
      GOOGLE_TOKEN_URL: `${issuer}/token`,
      GOOGLE_REVOKE_URL: `${issuer}/token/revocation`,
      GOOGLE_USERINFO_URL: `${issuer}/me`,
      GOOGLE_CERTS_URL: `${issuer}/jwks`,
      GOOGLE_ISSUER: issuer,
      GMAIL_API_URL: `${gmailUrl}/`,
    },
    switches,
    revocations,
    refreshes: () => refreshes,
    consent: (authorizeUrl, email) => browse(authorizeUrl, callbackUrl, email),
    async refresh(refreshToken) {
      const res = await fetch(`${issuer}/token`, {
        method: "POST",
        body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: client.clientId, client_secret: client.clientSecret }),
      });
      return { status: res.status, error: (await res.json()).error };
    },
    async active(token) {
      const res = await fetch(`${issuer}/token/introspection`, {
        method: "POST",
        body: new URLSearchParams({ token, client_id: client.clientId, client_secret: client.clientSecret }),
      });
      return (await res.json()).active;
    },
    async close() {
      await new Promise((r) => gmailServer.close(r));
      await new Promise((r) => providerServer.close(r));
    },
  };
}

/** A cookie-keeping client that follows the provider's redirects and fills its forms until a redirect leaves for `leaveAt`. */
async function browse(startUrl: string, leaveAt: string, login: string): Promise<URL> {
  const jar = new Map<string, string>();
  let url = new URL(startUrl);
  let form: URLSearchParams | undefined;
  for (let hops = 0; hops < 20; hops++) {
    const res = await fetch(url, {
      method: form ? "POST" : "GET",
      body: form,
      redirect: "manual",
      headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair = ""] = c.split(";");
      const eq = pair.indexOf("=");
      jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    form = undefined;
    const location = res.headers.get("location");
    if (location) {
      url = new URL(location, url);
      if (url.href.startsWith(leaveAt)) return url;
      continue;
    }
    const page = await res.text();
    if (res.status !== 200) throw new Error(`provider answered ${res.status}: ${page.slice(0, 500)}`);
    // The provider's own login and consent forms (devInteractions), submitted as a person would.
    const action = /<form[^>]*action="([^"]+)"/.exec(page)?.[1];
    const prompt = /name="prompt" value="(\w+)"/.exec(page)?.[1];
    if (!action || !prompt) throw new Error(`no form on the provider's page: ${page.slice(0, 500)}`);
    url = new URL(action, url);
    form = new URLSearchParams(prompt === "login" ? { prompt, login, password: "any" } : { prompt });
  }
  throw new Error("too many redirects");
}
