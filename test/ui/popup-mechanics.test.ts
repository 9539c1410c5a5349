/**
 * The panel's side of the popup, with Google out of the picture: the authorize
 * answer is replaced so the popup lands on a page the test controls. Checks a
 * blocked popup, that a report from another origin is ignored, and that a
 * denial from our own origin is shown in the pane.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { api } from "../support/app.ts";
import { launchBrowser, screenshot, signIn, type TestBrowser } from "./support/browser.ts";
import { startServedApp } from "./support/service.ts";

describe("Save & authorize popup mechanics", () => {
  let served: Awaited<ReturnType<typeof startServedApp>>;
  let browser: TestBrowser;
  let foreignOrigin: string;

  beforeAll(async () => {
    served = await startServedApp();
    // The same server under another name is another origin.
    foreignOrigin = served.url.replace("127.0.0.1", "localhost");
    browser = await launchBrowser(served.url);
  });
  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  async function accountWithIClient(): Promise<string> {
    const token = await served.test.newAccount();
    const res = await api(served.test.app, token).post("/v1/iclients", {
      name: "Popup client",
      application: "gmail",
      clientId: "popup.apps.googleusercontent.com",
      clientSecret: "s3cret-popup",
    });
    expect(res.statusCode).toBe(201);
    return token;
  }

  async function fillPane(page: Page, name: string) {
    await page.getByRole("button", { name: "Create connection" }).click();
    await page.getByRole("button", { name: "Google Mail" }).click();
    const pane = page.getByRole("dialog", { name: "Create connection" });
    await pane.getByRole("textbox", { name: "Name" }).fill(name);
    await pane.getByRole("checkbox", { name: "Configure your client id and secret" }).check();
    await pane.getByRole("combobox", { name: "iClient" }).selectOption({ label: "Popup client" });
    return pane;
  }

  /** Answer `authorize` with `authorizeUrl` instead of asking the service. */
  async function stubAuthorize(page: Page, authorizeUrl: (connectionId: string) => string) {
    await page.route(/\/v1\/connections\/[^/]+\/authorize$/, async (route) => {
      const id = /connections\/([^/]+)\/authorize/.exec(route.request().url())![1]!;
      await route.fulfill({ json: { authorizeUrl: authorizeUrl(decodeURIComponent(id)), expiresAt: new Date(Date.now() + 600_000).toISOString() } });
    });
  }

  it("tells the user when the popup is blocked and links to the authorize URL", async () => {
    const token = await accountWithIClient();
    const page = await browser.newPage();
    await page.addInitScript(() => {
      window.open = () => null;
    });
    await signIn(page, token);
    await stubAuthorize(page, (id) => `https://accounts.example/o/oauth2/v2/auth?state=${id}`);
    const pane = await fillPane(page, "Blocked popup");
    await pane.getByRole("button", { name: "Save & authorize" }).click();
    const alert = pane.getByRole("alert");
    await expect.poll(() => alert.textContent()).toContain("blocked the Google sign-in window");
    const link = alert.getByRole("link", { name: "Open the Google sign-in page" });
    expect(await link.getAttribute("href")).toMatch(/^https:\/\/accounts\.example\/o\/oauth2\/v2\/auth\?state=/);
    // The connection was saved, so a second try updates it instead of failing on its name.
    const listed = (await api(served.test.app, token).get("/v1/connections")).json().items;
    expect(listed.map((c: { name: string }) => c.name)).toEqual(["Blocked popup"]);
    await screenshot(page, "popup-blocked");
    await page.close();
  });

  it("ignores a report from another origin and shows a denial reported from its own origin", async () => {
    const token = await accountWithIClient();
    const page = await browser.newPage();
    await signIn(page, token);
    // Step 1, on a foreign origin: claims success (must be ignored), then goes on to step 2 on our origin: a denial.
    await browser.context.route(/\/__fake-google\//, async (route) => {
      const url = new URL(route.request().url());
      const id = url.searchParams.get("state")!;
      const script = url.pathname.endsWith("/foreign")
        ? `opener.postMessage({type:"mailbridge:oauth",connectionId:${JSON.stringify(id)},ok:true,email:"evil@example.com"},"*");
           setTimeout(()=>location.href=${JSON.stringify(`${served.url}/__fake-google/own?state=${encodeURIComponent(id)}`)},300);`
        : `opener.postMessage({type:"mailbridge:oauth",connectionId:${JSON.stringify(id)},ok:false,error:{code:"access_denied",message:"The user denied access."}},location.origin);
           window.close();`;
      await route.fulfill({ contentType: "text/html", body: `<!doctype html><title>fake</title><script>${script}</script>` });
    });
    await stubAuthorize(page, (id) => `${foreignOrigin}/__fake-google/foreign?state=${encodeURIComponent(id)}`);
    const pane = await fillPane(page, "Denied in popup");
    const popupOpened = page.waitForEvent("popup");
    await pane.getByRole("button", { name: "Save & authorize" }).click();
    const popup = await popupOpened;
    if (!popup.isClosed()) await popup.waitForEvent("close");

    await expect.poll(() => pane.getByRole("alert").textContent()).toMatch(/^Access was denied/);
    expect(await pane.isVisible()).toBe(true);
    expect(await page.getByText("evil@example.com").count()).toBe(0);
    await screenshot(page, "popup-denied");
    await browser.context.unrouteAll({ behavior: "ignoreErrors" });
    await page.close();
  });
});
