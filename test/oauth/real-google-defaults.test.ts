/**
 * With no Google settings at all, Save & authorize must point at real Google
 * with the fixed callback URL: the same code that runs against the emulator.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startTestApp, type TestApp } from "../support/app.ts";

describe("defaults for real Google", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { PUBLIC_URL: "https://mailbridge.example.com" } });
  });
  afterAll(() => t.close());

  it("sends the popup to accounts.google.com with redirect_uri = PUBLIC_URL/oauth2/callback", async () => {
    const a = api(t.app, t.adminToken);
    const ic = (await a.post("/v1/iclients", { name: "real", application: "gmail", clientId: "1234.apps.googleusercontent.com", clientSecret: "GOCSPX-not-a-real-secret" })).json();
    const c = (await a.post("/v1/connections", { name: "real", application: "gmail", scopes: ["https://mail.google.com/"], iClientId: ic.id })).json();
    expect(c.callbackUrl).toBe("https://mailbridge.example.com/oauth2/callback");
    const url = new URL((await a.post(`/v1/connections/${c.id}/authorize`)).json().authorizeUrl);
    expect(`${url.origin}${url.pathname}`).toBe("https://accounts.google.com/o/oauth2/v2/auth");
    expect(url.searchParams.get("redirect_uri")).toBe("https://mailbridge.example.com/oauth2/callback");
    expect(url.searchParams.get("client_id")).toBe("1234.apps.googleusercontent.com");
    expect(t.config.google).toEqual({
      authUrl: "https://accounts.google.com/o/oauth2/v2/auth",
      tokenUrl: "https://oauth2.googleapis.com/token",
      revokeUrl: "https://oauth2.googleapis.com/revoke",
      userinfoUrl: "https://www.googleapis.com/oauth2/v2/userinfo",
      gmailUrl: "https://gmail.googleapis.com/",
    });
    // Sign-in identity: Google's issuer (both forms its ID tokens carry) and its JWKS.
    expect(url.searchParams.get("scope")!.split(" ")).toEqual(expect.arrayContaining(["openid", "email"]));
    expect(t.config.googleIssuers).toEqual(["https://accounts.google.com", "accounts.google.com"]);
    expect(t.config.googleCertsUrl).toBe("https://www.googleapis.com/oauth2/v3/certs");
  });

  it("a callback naming another issuer than Google is refused before the code is used", async () => {
    const a = api(t.app, t.adminToken);
    const ic = (await a.post("/v1/iclients", { name: "real-iss", application: "gmail", clientId: "5678.apps.googleusercontent.com", clientSecret: "GOCSPX-not-a-real-secret" })).json();
    const c = (await a.post("/v1/connections", { name: "real-iss", application: "gmail", scopes: ["https://mail.google.com/"], iClientId: ic.id })).json();
    const state = new URL((await a.post(`/v1/connections/${c.id}/authorize`)).json().authorizeUrl).searchParams.get("state")!;
    const res = await t.app.inject({ url: `/oauth2/callback?${new URLSearchParams({ state, code: "4/abc", iss: "https://evil.example" })}` });
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain("issuer_mismatch");
    expect((await a.get(`/v1/connections/${c.id}`)).json().status).toBe("unauthorized");
  });
});
