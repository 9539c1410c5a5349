/**
 * Retry revoke in the panel (issue 12): a deauthorization the issuer refused shows on the
 * connection's row with a **Retry revoke** button; pressing it once the issuer accepts finishes
 * the revocation for real. The service runs in-process on a real port against oidc-provider;
 * the panel runs in real Chromium.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { testChromium } from "../support/services.ts";
import { launchBrowser, screenshot, signIn, UI_TEST_MS, type TestBrowser } from "../ui/support/browser.ts";
import { onFreePort } from "../support/cluster.ts";
import { startOidcProvider, type TestOidcProvider } from "./oidc-provider.ts";

const READONLY = "https://www.googleapis.com/auth/gmail.readonly";

describe.skipIf(!testChromium)("Retry revoke in the connections list", { timeout: UI_TEST_MS }, () => {
  let op: TestOidcProvider;
  let t: TestApp;
  let browser: TestBrowser;
  let publicUrl: string;

  beforeAll(async () => {
    await onFreePort(async (port) => {
      publicUrl = `http://127.0.0.1:${port}`;
      op = await startOidcProvider(`${publicUrl}/oauth2/callback`);
      t = await startTestApp({ env: { PUBLIC_URL: publicUrl, ...op.env } });
      await t.app.listen({ port, host: "127.0.0.1" }).catch(async (err) => (await t.close(), await op.close(), Promise.reject(err)));
    });
    browser = await launchBrowser(publicUrl);
  }, UI_TEST_MS);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await op?.close();
  });

  /** A new connection on its own iClient, authorized at oidc-provider; its refresh token as sealed. */
  async function authorized(prefix: string) {
    const call = api(t.app, t.adminToken);
    const tag = randomBytes(2).toString("hex");
    const ic = (await call.post("/v1/iclients", { name: `oidc-provider ${tag}`, application: "gmail", ...op.client })).json();
    const name = `${prefix} ${tag}`;
    const connection = (await call.post("/v1/connections", { name, application: "gmail", scopes: [READONLY], iClientId: ic.id })).json();
    const start = (await call.post(`/v1/connections/${connection.id}/authorize`)).json();
    const redirect = await op.consent(start.authorizeUrl, "eve@example.org");
    expect((await t.app.inject({ url: redirect.pathname + redirect.search })).statusCode).toBe(200);
    const sealed = (await t.store.db.query("SELECT tokens_sealed FROM connections WHERE id = $1", [connection.id]))[0]!.tokens_sealed;
    const { refreshToken } = JSON.parse(t.secrets.open(sealed)) as { refreshToken: string };
    return { name, connection, refreshToken };
  }

  it("a refused revocation shows on the row; Retry revoke fails again while refused, then finishes it", async () => {
    const call = api(t.app, t.adminToken);
    const { name, connection, refreshToken } = await authorized("Revoke me");

    op.switches.refuseRevocation = true;
    expect((await call.post(`/v1/connections/${connection.id}/deauthorize`)).json().revocation.status).toBe("failed");

    const page = await browser.newPage();
    await signIn(page, t.adminToken);
    const row = page.getByRole("row", { name: new RegExp(name) });
    await row.getByText("Not authorized").waitFor();
    await row.getByText(/Revocation not confirmed: .*400 invalid_request/).waitFor();
    const retry = row.getByRole("button", { name: "Retry revoke" });

    await retry.click();
    await row.getByText("Revocation failed again.").waitFor();
    await screenshot(page, "retry-revoke-failed");
    expect(await op.active(refreshToken)).toBe(true);

    op.switches.refuseRevocation = false;
    await retry.click();
    await row.getByText("Google confirmed the revocation.").waitFor();
    await retry.waitFor({ state: "detached" });
    expect(await row.getByText(/Revocation not confirmed/).count()).toBe(0);
    await screenshot(page, "retry-revoke-done");
    expect(await op.active(refreshToken)).toBe(false);
    expect((await call.get(`/v1/connections/${connection.id}`)).json()).toMatchObject({ status: "unauthorized", revocation: null });
    await page.close();
  });

  it("deleting a connection whose revocation is refused says so, not a bare Deleted", async () => {
    const call = api(t.app, t.adminToken);
    const { name, connection, refreshToken } = await authorized("Delete me");

    op.switches.refuseRevocation = true;
    try {
      const page = await browser.newPage();
      await signIn(page, t.adminToken);
      const row = page.getByRole("row", { name: new RegExp(name) });
      await row.getByRole("button", { name: "Delete" }).click();
      await page.getByRole("alertdialog", { name: "Delete connection?" }).getByRole("button", { name: "Delete" }).click();
      await row.waitFor({ state: "detached" });
      await page.getByText(new RegExp(`Deleted ${name}, but Google did not confirm the revocation .*The grant may still be alive`)).waitFor();
      await screenshot(page, "delete-revocation-unconfirmed");
      expect(await page.getByText(`Deleted ${name}.`, { exact: true }).count()).toBe(0);
      expect(await op.active(refreshToken)).toBe(true);
      expect((await call.get(`/v1/connections/${connection.id}`)).statusCode).toBe(404);
      await page.close();
    } finally {
      op.switches.refuseRevocation = false;
    }
  });
});
