/**
 * The resources panel in real Chromium against the in-process service
 * (no OAuth needed): sign-in, the Resources menu, every control of the
 * Create connection pane by role and label, the dialogs, 400/409 messages next
 * to their field, delete with confirmation, the phone layout, and the panel's
 * side of the popup (blocked popup, foreign-origin report ignored, denial shown).
 * One file, so the app and Chromium start once.
 */
import { describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { api } from "../support/app.ts";
import { PHONE, poll, screenshot, signIn, UI_TEST_MS, useServiceAndBrowser, type TestBrowser } from "./support/browser.ts";
import { startServedApp, type InProcessService } from "./support/service.ts";
import { testChromium } from "../support/services.ts";

describe.skipIf(!testChromium)("resources panel (smoke)", { timeout: UI_TEST_MS }, () => {
  let served: InProcessService;
  let browser: TestBrowser;
  useServiceAndBrowser(startServedApp, (s, b) => void ([served, browser] = [s, b]));

  async function openCreatePane(page: Page) {
    await page.getByRole("button", { name: "Create connection" }).click();
    await page.getByRole("dialog", { name: "Choose an application" }).getByRole("button", { name: "Google Mail" }).click();
    const pane = page.getByRole("dialog", { name: "Create connection" });
    await pane.waitFor();
    return pane;
  }

  it("signs in, shows the Resources menu and every control of the Create connection pane", async () => {
    const page = await browser.newPage();
    await page.goto("/");
    // A wrong token is refused with a message next to the field.
    await page.getByLabel("API token").fill("not-a-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await poll(() => page.getByRole("alert").textContent()).toContain("not valid");
    await signIn(page, served.adminToken);

    // Resources menu, with the keyboard.
    const resources = page.getByRole("button", { name: "Resources" });
    await resources.focus();
    await page.keyboard.press("Enter");
    await poll(() => page.getByRole("menuitem").allTextContents()).toEqual(["Connections", "iClients"]);
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "iClients" }).waitFor();
    await resources.click();
    await page.getByRole("menuitem", { name: "Connections" }).click();
    await page.getByRole("heading", { name: "Connections" }).waitFor();

    const pane = await openCreatePane(page);
    await poll(() => page.evaluate(() => document.activeElement?.id)).toBe("conn-name");
    await pane.getByRole("textbox", { name: "Name" }).fill("Support inbox");
    const application = pane.getByRole("textbox", { name: "Application" });
    expect(await application.inputValue()).toBe("Google Mail");
    expect(await application.getAttribute("readonly")).not.toBeNull();

    // Configure scopes: Remove all, Add one, Add all, Remove one, Done.
    await pane.getByRole("button", { name: "Configure scopes" }).click();
    const scopes = page.getByRole("dialog", { name: "Configure scopes" });
    const available = scopes.getByRole("listbox", { name: "Available scopes" });
    const selected = scopes.getByRole("listbox", { name: "Selected scopes" });
    for (const name of ["Add", "Add all", "Remove", "Remove all", "Done"]) {
      await scopes.getByRole("button", { name, exact: true }).waitFor();
    }
    expect(await scopes.getByRole("button", { name: "Add all" }).textContent()).toBe("»");
    await scopes.getByRole("button", { name: "Remove all" }).click();
    expect(await selected.locator("option").count()).toBe(0);
    await available.selectOption("https://www.googleapis.com/auth/gmail.readonly");
    await scopes.getByRole("button", { name: "Add", exact: true }).click();
    expect(await selected.locator("option").evaluateAll((o) => o.map((x) => (x as HTMLOptionElement).value))).toEqual([
      "https://www.googleapis.com/auth/gmail.readonly",
    ]);
    await scopes.getByRole("button", { name: "Add all" }).click();
    expect(await available.locator("option").count()).toBe(0);
    await selected.selectOption("https://mail.google.com/");
    await scopes.getByRole("button", { name: "Remove", exact: true }).click();
    await scopes.getByRole("button", { name: "Done" }).click();
    await scopes.waitFor({ state: "detached" });
    expect(await pane.getByRole("list", { name: "Scopes" }).getByRole("listitem").count()).toBe(10);

    // iClient controls appear with the checkbox.
    expect(await pane.getByRole("combobox", { name: "iClient" }).count()).toBe(0);
    await pane.getByRole("checkbox", { name: "Configure your client id and secret" }).check();
    await pane.getByRole("combobox", { name: "iClient" }).waitFor();
    await pane.getByRole("button", { name: "Add iClient" }).waitFor();
    expect(await pane.getByRole("button", { name: "Edit iClient" }).isDisabled()).toBe(true);

    const callback = pane.getByRole("textbox", { name: "Callback URL" });
    expect(await callback.inputValue()).toMatch(/\/oauth2\/callback$/);
    expect(await callback.getAttribute("readonly")).not.toBeNull();
    await pane.getByRole("button", { name: "Copy" }).click();
    await poll(() => pane.getByRole("status").filter({ hasText: "Copied" }).count()).toBe(1);

    await pane.getByText("Advanced", { exact: true }).click();
    const borrow = pane.getByRole("combobox", { name: "Borrow concurrency from" });
    const level = pane.getByRole("spinbutton", { name: "Concurrency level" });
    expect(await level.inputValue()).toBe("5");
    expect(await level.getAttribute("min")).toBe("1");
    expect(await level.getAttribute("max")).toBe("25");
    expect(await borrow.isVisible()).toBe(true);
    await pane.getByRole("button", { name: "Save & authorize" }).waitFor();
    await pane.getByRole("button", { name: "Cancel" }).waitFor();
    await screenshot(page, "smoke-create-connection-pane");

    // Escape closes the pane and gives focus back to the button that opened the flow.
    await page.keyboard.press("Escape");
    await pane.waitFor({ state: "detached" });
    await poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe("Create connection");
    await page.close();
  });

  it("adds an iClient from a client JSON file (warning when the callback URL is missing) and shows the API's 400 and 409 next to the field", async () => {
    const token = await served.test.newAccount();
    const call = api(served.test.app, token);
    const ic = await call.post("/v1/iclients", { name: "Existing client", application: "gmail", clientId: "existing.apps.googleusercontent.com", clientSecret: "s3cret-existing" });
    expect(ic.statusCode).toBe(201);
    const taken = await call.post("/v1/connections", {
      name: "Taken name",
      application: "gmail",
      scopes: ["https://www.googleapis.com/auth/gmail.readonly"],
      iClientId: ic.json().id,
    });
    expect(taken.statusCode).toBe(201);

    const page = await browser.newPage();
    await signIn(page, token);
    await page.getByRole("row", { name: /Taken name/ }).waitFor();
    const pane = await openCreatePane(page);

    // Nothing filled in: the pane says what is missing, next to the field.
    await pane.getByRole("textbox", { name: "Name" }).fill("");
    await pane.getByRole("button", { name: "Save & authorize" }).click();
    await poll(() => pane.getByRole("textbox", { name: "Name" }).getAttribute("aria-invalid")).toBe("true");

    await pane.getByRole("checkbox", { name: "Configure your client id and secret" }).check();
    await pane.getByRole("button", { name: "Add iClient" }).click();
    const dialog = page.getByRole("dialog", { name: "Add iClient" });
    await dialog.getByRole("textbox", { name: "Name" }).fill("From JSON");
    await dialog.getByLabel("Google client JSON file").setInputFiles({
      name: "client_secret_123.json",
      mimeType: "application/json",
      buffer: Buffer.from(
        JSON.stringify({
          web: {
            client_id: "123-json.apps.googleusercontent.com",
            client_secret: "GOCSPX-json-secret",
            redirect_uris: ["https://elsewhere.example/callback"],
          },
        }),
      ),
    });
    await poll(() => dialog.getByRole("textbox", { name: "Client ID" }).inputValue()).toBe("123-json.apps.googleusercontent.com");
    await poll(() => dialog.getByRole("alert").textContent()).toMatch(/redirect URIs do not include the callback URL/);
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.waitFor({ state: "detached" });
    const select = pane.getByRole("combobox", { name: "iClient" });
    expect(await select.locator("option:checked").textContent()).toBe("From JSON");
    expect(await pane.getByText("This iClient's redirect URIs do not include the callback URL").count()).toBe(1);

    // A name the account already uses: the API's 409 appears under Name.
    await pane.getByRole("textbox", { name: "Name" }).fill("Taken name");
    const popupOpened = page.waitForEvent("popup");
    await pane.getByRole("button", { name: "Save & authorize" }).click();
    const popup = await popupOpened;
    const nameError = page.locator("#conn-name-error");
    await nameError.waitFor();
    expect(await nameError.textContent()).toMatch(/name|already|use/i);
    expect(await pane.getByRole("textbox", { name: "Name" }).getAttribute("aria-describedby")).toContain("conn-name-error");
    // The popup opened by the click was closed again when saving failed.
    if (!popup.isClosed()) await popup.waitForEvent("close");

    // A level outside 1..25 is refused before anything is sent.
    await pane.getByText("Advanced", { exact: true }).click();
    await pane.getByRole("spinbutton", { name: "Concurrency level" }).fill("30");
    await pane.getByRole("textbox", { name: "Name" }).fill("Fresh name");
    await pane.getByRole("button", { name: "Save & authorize" }).click();
    await poll(() => pane.locator("#conn-level-error").textContent()).toContain("1 to 25");
    await screenshot(page, "smoke-field-errors");
    await page.close();
  });

  it("deletes a connection after confirmation, and the list reads well on a phone", async () => {
    const token = await served.test.newAccount();
    const call = api(served.test.app, token);
    const ic = await call.post("/v1/iclients", { name: "Phone client", application: "gmail", clientId: "phone.apps.googleusercontent.com", clientSecret: "s3cret-phone" });
    for (const name of ["Keep me", "Delete me"]) {
      const res = await call.post("/v1/connections", { name, application: "gmail", scopes: ["https://www.googleapis.com/auth/gmail.readonly"], iClientId: ic.json().id });
      expect(res.statusCode).toBe(201);
    }
    const page = await browser.newPage(PHONE);
    await signIn(page, token);
    const row = page.getByRole("row", { name: /Delete me/ });
    await row.waitFor();
    expect(await row.getByText("Not authorized").count()).toBe(1);
    for (const name of ["Edit", "Test connection", "Delete"]) await row.getByRole("button", { name }).waitFor();
    expect(await row.getByRole("button", { name: "Reauthorize" }).count()).toBe(0);

    await row.getByRole("button", { name: "Delete" }).click();
    const confirm = page.getByRole("alertdialog", { name: "Delete connection?" });
    // Escape backs out; nothing is deleted.
    await confirm.waitFor();
    await page.keyboard.press("Escape");
    await confirm.waitFor({ state: "detached" });
    await row.getByRole("button", { name: "Delete" }).click();
    await confirm.getByRole("button", { name: "Delete" }).click();
    await row.waitFor({ state: "detached" });
    await page.getByRole("row", { name: /Keep me/ }).waitFor();
    expect((await call.get("/v1/connections")).json().items.map((c: { name: string }) => c.name)).toEqual(["Keep me"]);

    // Nothing wider than the phone's screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await screenshot(page, "smoke-connections-phone");

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("API token").waitFor();
    await page.close();
  });

  // The popup, with Google out of the picture: the authorize answer is replaced so the
  // popup lands on a page the test controls (the same server under another name is another origin).
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
    await poll(() => alert.textContent()).toContain("blocked the Google sign-in window");
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
    await stubAuthorize(page, (id) => `${served.url.replace("127.0.0.1", "localhost")}/__fake-google/foreign?state=${encodeURIComponent(id)}`);
    const pane = await fillPane(page, "Denied in popup");
    const popupOpened = page.waitForEvent("popup");
    await pane.getByRole("button", { name: "Save & authorize" }).click();
    const popup = await popupOpened;
    if (!popup.isClosed()) await popup.waitForEvent("close");

    await poll(() => pane.getByRole("alert").textContent()).toMatch(/^Access was denied/);
    expect(await pane.isVisible()).toBe(true);
    expect(await page.getByText("evil@example.com").count()).toBe(0);
    await screenshot(page, "popup-denied");
    await browser.context.unrouteAll({ behavior: "ignoreErrors" });
    await page.close();
  });
});
