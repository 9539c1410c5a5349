/**
 * Issue 7's end-to-end scenarios: the panel, the service in sandbox mode
 * (`server/main.ts --sandbox`, a real child process) and the Google emulator's
 * consent page, all over real HTTP in real Chromium.
 *
 * Skipped only while the OAuth routes (server/oauth) have not landed.
 */
import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import type { Locator, Page } from "playwright-core";
import { poll, screenshot, signIn, UI_TEST_MS, useServiceAndBrowser, type TestBrowser } from "./support/browser.ts";
import { startSandboxService, type SandboxService } from "./support/service.ts";
import { testChromium } from "../support/services.ts";

const DEMO = "demo@mailbridge.test";
const SCOPE = (s: string) => `https://www.googleapis.com/auth/${s}`;

describe.skipIf(!testChromium)("Save & authorize in the browser (sandbox)", { timeout: UI_TEST_MS }, () => {
  let service: SandboxService;
  let browser: TestBrowser;

  useServiceAndBrowser(startSandboxService, async (s, b) => {
    [service, browser] = [s, b];
    // One clear failure instead of four timeouts when the sandbox is not wired up.
    // The sandbox's emulator admin routes need an admin account's API token.
    const stats = await fetch(`${service.emulator}/_admin/stats`, { headers: { authorization: `Bearer ${service.adminToken}` } });
    expect(stats.status, `the Google emulator is not mounted at ${service.emulator} in sandbox mode`).toBe(200);
    const iclients = await fetch(`${service.url}/v1/iclients`, { headers: { authorization: `Bearer ${service.adminToken}` } });
    const names = ((await iclients.json()).items ?? []).map((c: { name: string }) => c.name);
    expect(names, "sandbox mode seeds the iClient \"Sandbox client\" in the default account").toContain("Sandbox client");
  });

  async function emulatorAdmin(path: string, body: unknown): Promise<void> {
    const res = await fetch(`${service.emulator}/_admin${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${service.adminToken}` },
      body: JSON.stringify(body),
    });
    expect(res.status, `POST /_admin${path}: ${await res.clone().text()}`).toBeLessThan(300);
  }

  /** Connections → Create connection → Google Mail → the pane, named. */
  async function startCreate(page: Page, name: string): Promise<Locator> {
    await page.getByRole("button", { name: "Create connection" }).click();
    await page.getByRole("button", { name: "Google Mail" }).click();
    const pane = page.getByRole("dialog", { name: "Create connection" });
    await pane.getByRole("textbox", { name: "Name" }).fill(name);
    return pane;
  }

  async function chooseScopes(page: Page, pane: Locator, scopes: string[]): Promise<void> {
    await pane.getByRole("button", { name: "Configure scopes" }).click();
    const dialog = page.getByRole("dialog", { name: "Configure scopes" });
    await dialog.getByRole("button", { name: "Remove all" }).click();
    await dialog.getByRole("listbox", { name: "Available scopes" }).selectOption(scopes);
    await dialog.getByRole("button", { name: "Add", exact: true }).click();
    await dialog.getByRole("button", { name: "Done" }).click();
    await dialog.waitFor({ state: "detached" });
  }

  async function useIClient(pane: Locator, iclientName: string): Promise<void> {
    await pane.getByRole("checkbox", { name: "Configure your client id and secret" }).check();
    await pane.getByRole("combobox", { name: "iClient" }).selectOption({ label: iclientName });
  }

  /** Click Save & authorize (or Reauthorize) and return the consent page in the popup. */
  async function openConsent(page: Page, button: Locator): Promise<Page> {
    const popupOpened = page.waitForEvent("popup");
    await button.click();
    const popup = await popupOpened;
    await popup.getByRole("button", { name: "Allow" }).waitFor();
    return popup;
  }

  async function decide(popup: Page, decision: "Allow" | "Deny", untick: string[] = []): Promise<void> {
    await popup.getByRole("textbox", { name: "Email", exact: true }).fill(DEMO);
    for (const scope of untick) await popup.getByRole("checkbox", { name: scope }).uncheck();
    const closed = popup.waitForEvent("close");
    await popup.getByRole("button", { name: decision }).click();
    await closed;
  }

  function row(page: Page, name: string): Locator {
    return page.getByRole("row", { name: new RegExp(name) });
  }

  async function connectionNamed(page: Page, name: string) {
    const res = await page.request.get("/v1/connections");
    return (await res.json()).items.find((c: { name: string }) => c.name === name);
  }

  it("creates an iClient and a connection (scopes by Add all and Add), allows on the consent page, and lists it Online with the demo address", async () => {
    const clientId = `ui-${randomBytes(4).toString("hex")}.apps.googleusercontent.com`;
    const clientSecret = `GOCSPX-${randomBytes(8).toString("hex")}`;
    await emulatorAdmin("/clients", { clientId, clientSecret, redirectUris: [`${service.url}/oauth2/callback`] });

    const page = await browser.newPage();
    await signIn(page, service.adminToken);
    const pane = await startCreate(page, "Demo inbox");

    await pane.getByRole("button", { name: "Configure scopes" }).click();
    const dialog = page.getByRole("dialog", { name: "Configure scopes" });
    await dialog.getByRole("button", { name: "Remove all" }).click();
    await dialog.getByRole("button", { name: "Add all" }).click();
    expect(await dialog.getByRole("listbox", { name: "Available scopes" }).locator("option").count()).toBe(0);
    await dialog.getByRole("listbox", { name: "Selected scopes" }).selectOption([SCOPE("gmail.insert"), SCOPE("gmail.settings.basic")]);
    await dialog.getByRole("button", { name: "Remove", exact: true }).click();
    await dialog.getByRole("listbox", { name: "Available scopes" }).selectOption(SCOPE("gmail.insert"));
    await dialog.getByRole("button", { name: "Add", exact: true }).click();
    await dialog.getByRole("button", { name: "Done" }).click();

    await pane.getByRole("checkbox", { name: "Configure your client id and secret" }).check();
    await pane.getByRole("button", { name: "Add iClient" }).click();
    const icDialog = page.getByRole("dialog", { name: "Add iClient" });
    await icDialog.getByRole("textbox", { name: "Name" }).fill("My Google client");
    await icDialog.getByRole("textbox", { name: "Client ID" }).fill(clientId);
    await icDialog.getByLabel("Client secret").fill(clientSecret);
    await icDialog.getByRole("button", { name: "Save" }).click();
    await icDialog.waitFor({ state: "detached" });
    expect(await pane.getByRole("combobox", { name: "iClient" }).locator("option:checked").textContent()).toBe("My Google client");

    const popup = await openConsent(page, pane.getByRole("button", { name: "Save & authorize" }));
    const requested = await popup.getByRole("checkbox").evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value));
    expect(requested).toContain(SCOPE("gmail.insert"));
    expect(requested).not.toContain(SCOPE("gmail.settings.basic"));
    await decide(popup, "Allow");

    await pane.waitFor({ state: "detached" });
    const r = row(page, "Demo inbox");
    await r.getByText("Online").waitFor();
    await r.getByText(DEMO).waitFor();
    await screenshot(page, "oauth-allow-online");
    await page.close();
  });

  it("Deny: the pane says access was denied and the connection is not online", async () => {
    const page = await browser.newPage();
    await signIn(page, service.adminToken);
    const pane = await startCreate(page, "Denied inbox");
    await useIClient(pane, "Sandbox client");
    const popup = await openConsent(page, pane.getByRole("button", { name: "Save & authorize" }));
    await decide(popup, "Deny");

    await poll(() => pane.getByRole("alert").allTextContents()).toEqual([expect.stringMatching(/Access was denied/)]);
    expect(await pane.isVisible()).toBe(true);
    expect((await connectionNamed(page, "Denied inbox")).status).toBe("unauthorized");
    await screenshot(page, "oauth-deny");
    await page.close();
  });

  it("a scope unticked on the consent page is shown as missing", async () => {
    const page = await browser.newPage();
    await signIn(page, service.adminToken);
    const pane = await startCreate(page, "Partial inbox");
    await chooseScopes(page, pane, [SCOPE("gmail.readonly"), SCOPE("gmail.send")]);
    await useIClient(pane, "Sandbox client");
    const popup = await openConsent(page, pane.getByRole("button", { name: "Save & authorize" }));
    await decide(popup, "Allow", [SCOPE("gmail.send")]);

    const alert = pane.getByRole("alert");
    await poll(() => alert.textContent()).toContain("Missing scopes");
    expect(await alert.textContent()).toContain(SCOPE("gmail.send"));
    expect(await alert.textContent()).not.toContain(SCOPE("gmail.readonly"));
    await screenshot(page, "oauth-missing-scope");
    expect((await connectionNamed(page, "Partial inbox")).missingScopes).toEqual([SCOPE("gmail.send")]);
    await page.close();
  });

  it("a revoked grant: Test connection shows Offline, Reauthorize brings it back Online", async () => {
    const page = await browser.newPage();
    await signIn(page, service.adminToken);
    const pane = await startCreate(page, "Revoked inbox");
    await chooseScopes(page, pane, [SCOPE("gmail.readonly")]);
    await useIClient(pane, "Sandbox client");
    await decide(await openConsent(page, pane.getByRole("button", { name: "Save & authorize" })), "Allow");
    const r = row(page, "Revoked inbox");
    await r.getByText("Online").waitFor();

    await emulatorAdmin(`/users/${encodeURIComponent(DEMO)}/revoke`, {});
    await r.getByRole("button", { name: "Test connection" }).click();
    await r.getByText("Offline", { exact: true }).waitFor();
    await r.getByText(/Test failed/).waitFor();
    await screenshot(page, "oauth-revoked-offline");

    await decide(await openConsent(page, r.getByRole("button", { name: "Reauthorize" })), "Allow");
    await r.getByText("Online").waitFor();
    await r.getByText(DEMO).waitFor();
    expect(await r.getByRole("button", { name: "Reauthorize" }).count()).toBe(0);
    await r.getByRole("button", { name: "Test connection" }).click();
    await r.getByText(`Connection works: ${DEMO}.`).waitFor();
    await screenshot(page, "oauth-reauthorized-online");
    await page.close();
  });
});
