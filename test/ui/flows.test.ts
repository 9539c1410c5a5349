/**
 * The flow builder end to end (SPEC §4, last bullet): the panel in real
 * Chromium, `server/main.ts --sandbox` as a child process, the emulator's
 * consent page and the seeded demo mailbox. A Google Mail connection is
 * created from inside the builder, a flow exports messages by a search query
 * and inserts them back with a label, and the run is watched to the end.
 */
import { describe, expect, it } from "vitest";
import type { Locator, Page } from "playwright-core";
import { PHONE, poll, screenshot, signIn, UI_TEST_MS, useServiceAndBrowser, type TestBrowser } from "./support/browser.ts";
import { startSandboxService, type SandboxService } from "./support/service.ts";
import { testChromium } from "../support/services.ts";

const DEMO = "demo@mailbridge.test";
const SCOPE = (s: string) => `https://www.googleapis.com/auth/${s}`;
const QUERY = "label:receipts";

describe.skipIf(!testChromium)("flow builder in the browser (sandbox)", { timeout: UI_TEST_MS }, () => {
  let service: SandboxService;
  let browser: TestBrowser;
  useServiceAndBrowser(startSandboxService, (s, b) => void ([service, browser] = [s, b]));

  /** Flows → Create flow: the empty builder. */
  async function newFlow(page: Page): Promise<void> {
    await page.getByRole("link", { name: "Flows" }).click();
    await page.getByRole("heading", { name: "Flows" }).waitFor();
    await page.getByRole("button", { name: "Create flow" }).click();
    await page.getByRole("heading", { name: "New flow" }).waitFor();
  }

  /** Add source or Add destination/lookup → the shared application list → Google Mail. */
  async function addStep(page: Page, button: "Add source" | "Add destination/lookup"): Promise<void> {
    await page.getByRole("button", { name: button }).click();
    await page.getByRole("dialog", { name: "Choose an application" }).getByRole("button", { name: "Google Mail" }).click();
  }

  /** The builder's Create connection opens the usual pane; Save & authorize through the consent page. */
  async function createConnection(page: Page, step: Locator, name: string, scopes: string[]): Promise<void> {
    await step.getByRole("button", { name: "Create connection" }).click();
    const pane = page.getByRole("dialog", { name: "Create connection" });
    await pane.getByRole("textbox", { name: "Name" }).fill(name);
    await pane.getByRole("button", { name: "Configure scopes" }).click();
    const scopesDialog = page.getByRole("dialog", { name: "Configure scopes" });
    await scopesDialog.getByRole("button", { name: "Remove all" }).click();
    await scopesDialog.getByRole("listbox", { name: "Available scopes" }).selectOption(scopes);
    await scopesDialog.getByRole("button", { name: "Add", exact: true }).click();
    await scopesDialog.getByRole("button", { name: "Done" }).click();
    await pane.getByRole("checkbox", { name: "Configure your client id and secret" }).check();
    await pane.getByRole("combobox", { name: "iClient" }).selectOption({ label: "Sandbox client" });
    const popupOpened = page.waitForEvent("popup");
    await pane.getByRole("button", { name: "Save & authorize" }).click();
    const popup = await popupOpened;
    await popup.getByRole("textbox", { name: "Email", exact: true }).fill(DEMO);
    const closed = popup.waitForEvent("close");
    await popup.getByRole("button", { name: "Allow" }).click();
    await closed;
    await pane.waitFor({ state: "detached" });
  }

  /** Messages of the demo mailbox a query finds, through the API the Preview uses. */
  async function count(page: Page, connectionId: string, query: string): Promise<number> {
    const res = await page.request.post(`/v1/connections/${connectionId}/lookup`, { data: { query, maxResults: 100 } });
    expect(res.status(), await res.text()).toBe(200);
    return (await res.json()).messages.length;
  }

  it("creates a Google Mail connection inside the builder, saves a flow, runs it and watches it succeed", async () => {
    const page = await browser.newPage();
    await signIn(page, service.adminToken);
    await newFlow(page);
    await page.getByRole("textbox", { name: "Name" }).fill("Receipts starred");

    // Source: the application list, then the connection step with a new, authorized connection.
    await addStep(page, "Add source");
    const source = page.getByRole("region", { name: "Source" });
    const sourceConnection = source.getByRole("combobox", { name: "Connection" });
    await poll(() => sourceConnection.evaluate((el) => el === document.activeElement)).toBe(true);
    await createConnection(page, source, "Demo mailbox", [SCOPE("gmail.readonly"), SCOPE("gmail.insert")]);
    await poll(() => sourceConnection.locator("option:checked").textContent()).toBe(`Demo mailbox (${DEMO})`);

    await source.getByRole("textbox", { name: "Search query" }).fill(QUERY);
    for (const name of ["Labels", "Format", "Attachments", "Max messages"]) await source.getByLabel(name, { exact: true }).waitFor();
    await source.getByRole("combobox", { name: "Format" }).selectOption("metadata");
    await source.getByRole("checkbox", { name: "Incremental" }).waitFor();
    await source.getByRole("button", { name: "Preview" }).click();
    const found = source.getByRole("list", { name: "Preview" }).getByRole("listitem");
    await poll(() => found.count()).toBeGreaterThan(0);

    // Destination: the same application list; the connection made above is offered by the select.
    await addStep(page, "Add destination/lookup");
    const destination = page.getByRole("region", { name: "Destination 1" });
    await destination.getByRole("combobox", { name: "Connection" }).selectOption({ label: `Demo mailbox (${DEMO})` });
    const action = destination.getByRole("combobox", { name: "Action" });
    // Mapping fields belong to composing actions only.
    await action.selectOption("send");
    for (const name of ["To", "Subject"]) await destination.getByRole("textbox", { name, exact: true }).waitFor();
    await destination.getByRole("textbox", { name: "Body" }).waitFor();
    await action.selectOption("insert");
    expect(await destination.getByRole("textbox", { name: "Subject" }).count()).toBe(0);
    await destination.getByRole("textbox", { name: "Labels" }).fill("STARRED");

    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByRole("status").filter({ hasText: "Saved Receipts starred." }).waitFor();
    await page.getByRole("heading", { name: "Receipts starred" }).waitFor();
    const flowId = decodeURIComponent(new URL(page.url()).hash.replace("#/flows/", ""));
    const saved = await (await page.request.get(`/v1/flows/${flowId}`)).json();
    expect(saved.source.export).toMatchObject({ query: QUERY, format: "metadata" });
    expect(saved.destinations).toEqual([expect.objectContaining({ import: { action: "insert", labelIds: ["STARRED"] } })]);
    const connectionId = saved.source.connectionId;
    const starredBefore = await count(page, connectionId, "is:starred");
    await screenshot(page, "flows-builder");

    // Run flow: the run panel follows the run to its end.
    await page.getByRole("button", { name: "Run flow" }).click();
    const run = page.getByRole("region", { name: "Run", exact: true });
    const counts = run.locator("#run-counts");
    await poll(() => counts.textContent()).toMatch(/^(Succeeded|Failed|Canceled):/);
    const text = (await counts.textContent())!;
    const [, exported, imported, failed] = /(\d+) exported, (\d+) imported, (\d+) failed/.exec(text)!.map(Number);
    expect(text, await run.textContent() ?? "").toMatch(/^Succeeded:/);
    expect(exported).toBeGreaterThan(0);
    expect(imported).toBe(exported);
    expect(failed).toBe(0);
    const progress = run.getByRole("progressbar", { name: "Progress" });
    expect(await progress.evaluate((el: HTMLProgressElement) => el.value === el.max)).toBe(true);
    expect(await run.getByRole("button", { name: "Cancel run" }).count()).toBe(0);
    // What the user would find in the mailbox: every exported message inserted again, starred.
    expect(await count(page, connectionId, "is:starred")).toBe(starredBefore + exported!);
    await screenshot(page, "flows-run-succeeded");

    // The list: name, source, destinations and the last run.
    await page.getByRole("link", { name: "Flows", exact: true }).click();
    const row = page.getByRole("row", { name: /Receipts starred/ });
    await row.getByText("Succeeded").waitFor();
    await row.getByText(QUERY).waitFor();
    await row.getByText(/Insert · Demo mailbox/).waitFor();
    await screenshot(page, "flows-list");

    // Opened again from the list: the saved settings and the last run come back.
    await row.getByRole("link", { name: "Receipts starred" }).click();
    await poll(() => page.getByRole("textbox", { name: "Search query" }).inputValue()).toBe(QUERY);
    expect(await page.getByRole("combobox", { name: "Format" }).inputValue()).toBe("metadata");
    expect(await page.getByRole("textbox", { name: "Labels" }).last().inputValue()).toBe("STARRED");
    await poll(() => page.locator("#run-counts").textContent()).toBe(text);
    await page.close();
  });

  it("shows the API's validation error next to its field, works from the keyboard and fits a phone", async () => {
    const page = await browser.newPage(PHONE);
    await signIn(page, service.adminToken);
    const iclients = (await (await page.request.get("/v1/iclients")).json()).items;
    const created = await page.request.post("/v1/connections", {
      data: { name: "Phone inbox", application: "gmail", scopes: [SCOPE("gmail.readonly")], iClientId: iclients.find((c: { name: string }) => c.name === "Sandbox client").id },
    });
    expect(created.status(), await created.text()).toBe(201);
    await newFlow(page);
    await page.getByRole("textbox", { name: "Name" }).fill("Too long a query");

    // Keyboard only: Add source → Google Mail → the Connection select has the focus.
    // The button is disabled until the application list has loaded (a disabled button takes no focus).
    const addSource = page.getByRole("button", { name: "Add source" });
    await poll(() => addSource.isEnabled()).toBe(true);
    await addSource.focus();
    await page.keyboard.press("Enter");
    const apps = page.getByRole("dialog", { name: "Choose an application" });
    await poll(() => apps.getByRole("button", { name: "Google Mail" }).evaluate((el) => el === document.activeElement)).toBe(true);
    await page.keyboard.press("Enter");
    const source = page.getByRole("region", { name: "Source" });
    await poll(() => source.getByRole("combobox", { name: "Connection" }).evaluate((el) => el === document.activeElement)).toBe(true);
    await source.getByRole("combobox", { name: "Connection" }).selectOption({ label: "Phone inbox · Not authorized" });
    // Longer than the API's 2,000 characters; only the service knows that limit.
    const query = source.getByRole("textbox", { name: "Search query" });
    await query.fill(`subject:${"x".repeat(2100)}`);
    // A cap past the old 10,000 is fine: exports have no limit but the optional cap.
    const max = source.getByLabel("Max messages", { exact: true });
    expect(await page.locator("#flow-src-max").evaluate((el) => document.getElementById(el.getAttribute("aria-describedby")!.split(" ")[0]!)?.textContent)).toContain("empty: no limit");
    await max.fill("25000");

    await addStep(page, "Add destination/lookup");
    const destination = page.getByRole("region", { name: "Destination 1" });
    await destination.getByRole("combobox", { name: "Connection" }).selectOption({ label: "Phone inbox · Not authorized" });
    await destination.getByRole("combobox", { name: "Action" }).selectOption("draft");
    await destination.getByRole("textbox", { name: "Subject" }).fill("Fwd: {{subject}}");

    await page.getByRole("button", { name: "Save", exact: true }).click();
    await poll(() => query.getAttribute("aria-invalid")).toBe("true");
    expect(await query.getAttribute("aria-describedby")).toContain("flow-src-query-error");
    expect(await page.locator("#flow-src-query-error").textContent()).toMatch(/2000|long|characters/i);
    expect(await max.getAttribute("aria-invalid")).not.toBe("true");
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await screenshot(page, "flows-field-error-phone");
    await page.close();
  });
});
