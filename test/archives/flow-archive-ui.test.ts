/**
 * Backup and restore in the panel (SPEC §4, last bullet), in real Chromium against
 * `server/main.ts --sandbox`: **Archive** is in the application list for a destination, the run
 * of a flow that writes one offers **Download archive** (the file downloaded is the run's mbox
 * with every exported message), and **Upload archive** feeds an archive source that restores
 * the file into the demo mailbox with Import. Create connection's list does not offer Archive
 * (it needs no connection).
 */
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { Locator, Page } from "playwright-core";
import { poll, screenshot, signIn, UI_TEST_MS, useServiceAndBrowser, type TestBrowser } from "../ui/support/browser.ts";
import { startSandboxService, type SandboxService } from "../ui/support/service.ts";
import { testChromium } from "../support/services.ts";
import { readMbox } from "../../connector/mbox.ts";

const DEMO = "demo@mailbridge.test";
const MODIFY = "https://www.googleapis.com/auth/gmail.modify";

describe.skipIf(!testChromium)("backup and restore in the browser (sandbox)", { timeout: UI_TEST_MS }, () => {
  let service: SandboxService;
  let browser: TestBrowser;
  useServiceAndBrowser(startSandboxService, (s, b) => void ([service, browser] = [s, b]));

  async function newFlow(page: Page, name: string): Promise<void> {
    await page.getByRole("link", { name: "Flows", exact: true }).click();
    await page.getByRole("heading", { name: "Flows" }).waitFor();
    await page.getByRole("button", { name: "Create flow" }).click();
    await page.getByRole("heading", { name: "New flow" }).waitFor();
    await page.getByRole("textbox", { name: "Name" }).fill(name);
  }

  async function addStep(page: Page, button: "Add source" | "Add destination/lookup", application: "Google Mail" | "Archive"): Promise<void> {
    await page.getByRole("button", { name: button }).click();
    await page.getByRole("dialog", { name: "Choose an application" }).getByRole("button", { name: application, exact: true }).click();
  }

  async function createConnection(page: Page, step: Locator, name: string): Promise<void> {
    await step.getByRole("button", { name: "Create connection" }).click();
    const pane = page.getByRole("dialog", { name: "Create connection" });
    await pane.getByRole("textbox", { name: "Name" }).fill(name);
    await pane.getByRole("button", { name: "Configure scopes" }).click();
    const scopesDialog = page.getByRole("dialog", { name: "Configure scopes" });
    await scopesDialog.getByRole("button", { name: "Remove all" }).click();
    await scopesDialog.getByRole("listbox", { name: "Available scopes" }).selectOption([MODIFY]);
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

  /** Save, Run flow, and wait for the run to end; returns its counts. */
  async function saveAndRun(page: Page, name: string): Promise<{ text: string; exported: number; imported: number }> {
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByRole("status").filter({ hasText: `Saved ${name}.` }).waitFor();
    await page.getByRole("button", { name: "Run flow" }).click();
    const counts = page.getByRole("region", { name: "Run", exact: true }).locator("#run-counts");
    await poll(() => counts.textContent()).toMatch(/^(Succeeded|Failed|Canceled):/);
    const text = (await counts.textContent())!;
    const [, exported, imported] = /(\d+) exported, (\d+) imported/.exec(text)!.map(Number);
    return { text, exported: exported!, imported: imported! };
  }

  it("backs the demo mailbox up into an archive, downloads it, uploads it and restores it", async () => {
    const page = await browser.newPage();
    await signIn(page, service.adminToken);

    // Create connection's list: only applications that take a connection.
    await page.getByRole("button", { name: "Resources" }).click();
    await page.getByRole("menuitem", { name: "Connections" }).click();
    await page.getByRole("heading", { name: "Connections" }).waitFor();
    await page.getByRole("button", { name: "Create connection" }).click();
    const apps = page.getByRole("dialog", { name: "Choose an application" });
    await apps.getByRole("button", { name: "Google Mail" }).waitFor();
    expect(await apps.getByRole("button", { name: "Archive", exact: true }).count()).toBe(0);
    await page.keyboard.press("Escape");

    // Backup: Google Mail → Archive.
    await newFlow(page, "Demo backup");
    await addStep(page, "Add source", "Google Mail");
    const source = page.getByRole("region", { name: "Source" });
    await createConnection(page, source, "Demo mailbox");
    await poll(() => source.getByRole("combobox", { name: "Connection" }).locator("option:checked").textContent()).toBe(`Demo mailbox (${DEMO})`);
    await source.getByRole("combobox", { name: "Format" }).selectOption("raw");
    await addStep(page, "Add destination/lookup", "Archive");
    await page.getByRole("region", { name: "Destination 1" }).getByText("mbox archive").waitFor();
    const backup = await saveAndRun(page, "Demo backup");
    expect(backup.text).toMatch(/^Succeeded:/);
    expect(backup.exported).toBeGreaterThan(0);
    const link = page.getByRole("link", { name: "Download archive" });
    await link.waitFor();
    await screenshot(page, "archive-backup-run");
    const downloading = page.waitForEvent("download");
    await link.click();
    const download = await downloading;
    expect(download.suggestedFilename()).toMatch(/^Demo backup .*\.mbox$/);
    const file = (await download.path())!;
    let messages = 0;
    for await (const _ of readMbox(Readable.from([await readFile(file)]))) messages += 1;
    expect(messages).toBe(backup.exported);

    // Restore: Upload archive → Archive source → Google Mail import.
    await newFlow(page, "Demo restore");
    await addStep(page, "Add source", "Archive");
    const archiveSource = page.getByRole("region", { name: "Source" });
    const chooser = page.waitForEvent("filechooser");
    await archiveSource.getByRole("button", { name: "Upload archive" }).click();
    await (await chooser).setFiles({ name: "demo-backup.mbox", mimeType: "application/mbox", buffer: await readFile(file) });
    await archiveSource.getByRole("status").filter({ hasText: "Uploaded demo-backup.mbox" }).waitFor();
    await poll(() => archiveSource.getByRole("combobox", { name: "Archive" }).locator("option:checked").textContent()).toMatch(new RegExp(`^demo-backup\\.mbox \\(${messages} messages`));
    await addStep(page, "Add destination/lookup", "Google Mail");
    const destination = page.getByRole("region", { name: "Destination 1" });
    await destination.getByRole("combobox", { name: "Connection" }).selectOption({ label: `Demo mailbox (${DEMO})` });
    await destination.getByRole("combobox", { name: "Action" }).selectOption("import");
    await screenshot(page, "archive-restore-builder");
    const restore = await saveAndRun(page, "Demo restore");
    expect(restore.text).toMatch(/^Succeeded:/);
    expect(restore).toMatchObject({ exported: messages, imported: messages });
  });
});
