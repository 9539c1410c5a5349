/**
 * The Content-Security-Policy in real Chromium: the panel, its OAuth popup,
 * the callback page, /docs and the page a missing build answers work under it
 * without a single violation, and a page on another origin cannot frame the panel.
 */
import { describe, expect, it } from "vitest";
import Fastify from "fastify";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ConsoleMessage, Page } from "playwright-core";
import { api } from "../support/app.ts";
import { poll, screenshot, signIn, UI_TEST_MS, useServiceAndBrowser, type TestBrowser } from "./support/browser.ts";
import { startServedApp, type InProcessService } from "./support/service.ts";
import { testChromium } from "../support/services.ts";
import { installSecurity } from "../../server/security.ts";
import { webRoutes } from "../../server/routes/web.ts";

declare global {
  interface Window {
    __cspViolations: string[];
  }
}

describe.skipIf(!testChromium)("Content-Security-Policy in Chromium", { timeout: UI_TEST_MS }, () => {
  let served: InProcessService;
  let browser: TestBrowser;
  /** Every CSP complaint Chromium printed, in any tab (popups included). */
  const consoleViolations: string[] = [];
  const onConsole = (m: ConsoleMessage) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) consoleViolations.push(`${m.location().url}: ${m.text()}`);
  };

  useServiceAndBrowser(startServedApp, async (s, b) => {
    [served, browser] = [s, b];
    browser.context.on("console", onConsole);
    // Recorded in every document, from its first script on.
    await browser.context.addInitScript(() => {
      window.__cspViolations = [];
      document.addEventListener("securitypolicyviolation", (e) => {
        window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
      });
    });
  });

  const violations = (page: Page) => page.evaluate(() => window.__cspViolations);

  it("the panel signs in, lists, opens its dialogs and its Google popup with no violation", async () => {
    const token = await served.test.newAccount();
    const call = api(served.test.app, token);
    const ic = await call.post("/v1/iclients", { name: "CSP client", application: "gmail", clientId: "csp.apps.googleusercontent.com", clientSecret: "s3cret-csp" });
    expect(ic.statusCode).toBe(201);
    const page = await browser.newPage();
    const policy = (await page.goto("/"))!.headers()["content-security-policy"];
    expect(policy).toContain("frame-ancestors 'none'");
    await signIn(page, token);
    await page.getByRole("heading", { name: "Connections" }).waitFor();

    const resources = page.getByRole("button", { name: "Resources" });
    await resources.click();
    await page.getByRole("menuitem", { name: "iClients" }).click();
    await page.getByRole("row", { name: /CSP client/ }).waitFor();
    await resources.click();
    await page.getByRole("menuitem", { name: "Connections" }).click();

    // Save & authorize: the popup opens on about:blank (it inherits the panel's policy), then
    // lands on the real callback page, whose hashed inline script reports to the opener and closes it.
    await page.route(/\/v1\/connections\/[^/]+\/authorize$/, (route) =>
      route.fulfill({ json: { authorizeUrl: `${served.url}/oauth2/callback?state=not-a-state&code=x`, expiresAt: new Date(Date.now() + 600_000).toISOString() } }),
    );
    await page.getByRole("button", { name: "Create connection" }).click();
    await page.getByRole("button", { name: "Google Mail" }).click();
    const pane = page.getByRole("dialog", { name: "Create connection" });
    await pane.getByRole("textbox", { name: "Name" }).fill("Under CSP");
    await pane.getByRole("checkbox", { name: "Configure your client id and secret" }).check();
    await pane.getByRole("combobox", { name: "iClient" }).selectOption({ label: "CSP client" });
    const popupOpened = page.waitForEvent("popup");
    await pane.getByRole("button", { name: "Save & authorize" }).click();
    const popup = await popupOpened;
    // Only the callback page's own script closes the window: proof that its hash admitted it.
    if (!popup.isClosed()) await popup.waitForEvent("close");
    await poll(async () => (await call.get("/v1/connections")).json().items.map((c: { name: string }) => c.name)).toEqual(["Under CSP"]);
    await screenshot(page, "csp-panel");

    expect(await violations(page)).toEqual([]);
    expect(consoleViolations).toEqual([]);
    await page.close();
  });

  it("/docs (swagger-ui) renders the API under its policy with no violation", async () => {
    const page = await browser.newPage();
    await page.goto("/docs");
    await page.getByRole("heading", { name: /Mailbridge API/ }).waitFor();
    await page.getByText("/v1/connections", { exact: true }).first().waitFor();
    expect(await violations(page)).toEqual([]);
    expect(consoleViolations).toEqual([]);
    await page.close();
  });

  it("the page a missing panel build answers is styled under the policy, with no violation", async () => {
    // The service's headers and web routes as buildApp installs them, over a folder with no build.
    const root = await mkdtemp(path.join(tmpdir(), "mailbridge-not-built-"));
    const app = Fastify({ forceCloseConnections: true }); // as buildApp: Chromium keeps its connection open
    await installSecurity(app, { publicUrl: "http://127.0.0.1" });
    await app.register(webRoutes, { root });
    const url = await app.listen({ port: 0, host: "127.0.0.1" });
    const page = await browser.newPage();
    try {
      const res = (await page.goto(`${url}/`))!;
      expect(res.status()).toBe(503);
      expect(res.headers()["content-security-policy"]).toMatch(/style-src 'self'/);
      expect(res.headers()["content-security-policy"]).not.toContain("'unsafe-inline'");
      await page.getByRole("heading", { name: "The resources panel is not built" }).waitFor();
      // The page's own style applies: 40rem wide at most, in the system font.
      await poll(() => page.evaluate(() => getComputedStyle(document.body).maxWidth)).toBe("640px");
      await screenshot(page, "csp-panel-not-built");
      expect(await violations(page)).toEqual([]);
      expect(consoleViolations).toEqual([]);
    } finally {
      await page.close();
      await app.close();
      await rm(root, { recursive: true, force: true });
    }
  });

  it("a page on another origin cannot frame the panel (a frame of its own origin loads)", async () => {
    const foreign: Server = createServer((req, res) => {
      res.setHeader("content-type", "text/html; charset=utf-8");
      if (req.url === "/own") return res.end("<!doctype html><title>own</title><p id=own>framed fine</p>");
      res.end(`<!doctype html><title>attacker</title>
<iframe id=own src="/own"></iframe>
<iframe id=panel src="${served.url}/"></iframe>`);
    });
    await new Promise<void>((resolve) => foreign.listen(0, "127.0.0.1", resolve));
    const foreignUrl = `http://localhost:${(foreign.address() as AddressInfo).port}`;
    const page = await browser.newPage();
    try {
      const panelRefused = page.waitForEvent("console", (m) => /frame-ancestors/.test(m.text()));
      const panelAnswered = page.waitForResponse((r) => r.url() === `${served.url}/`);
      await page.goto(`${foreignUrl}/`);
      // The control frame loads, so the page could frame anything that allows it.
      await page.frameLocator("#own").locator("#own").waitFor();
      expect((await panelAnswered).status()).toBe(200);
      expect((await panelRefused).text()).toContain("frame-ancestors 'none'");

      // The panel's frame shows Chromium's error page, never the sign-in form.
      const frame = page.frames().find((f) => f !== page.mainFrame() && !f.url().endsWith("/own"))!;
      expect(frame.url()).not.toBe(`${served.url}/`);
      expect(await page.frameLocator("#panel").getByLabel("API token").count()).toBe(0);
      await screenshot(page, "csp-framing-refused");
    } finally {
      consoleViolations.length = 0; // the refusal above is expected, and only here
      await page.close();
      foreign.closeAllConnections();
      await new Promise((resolve) => foreign.close(resolve));
    }
  });
});
