/**
 * The iClients page in Chromium: each iClient's Gmail units of today against the daily units
 * (a warning from 90 %), and "Allow billed usage" in the Edit iClient dialog, saved through the API.
 * The day's units are counted by the app's own budget (what the Gmail choke point writes to).
 */
import { describe, expect, it } from "vitest";
import { MemoryBudget, utcDay } from "../../server/quota/index.ts";
import { api, startTestApp } from "../support/app.ts";
import { testChromium } from "../support/services.ts";
import { poll, screenshot, signIn, UI_TEST_MS, useServiceAndBrowser, type TestBrowser } from "../ui/support/browser.ts";
import type { InProcessService } from "../ui/support/service.ts";

const DAILY = 1_000;

describe.skipIf(!testChromium)("iClients page: daily usage and billed usage", { timeout: UI_TEST_MS }, () => {
  const budget = new MemoryBudget();
  let served: InProcessService;
  let browser: TestBrowser;
  useServiceAndBrowser(
    async () => {
      const test = await startTestApp({ env: { GMAIL_PROJECT_DAILY_UNITS: String(DAILY) }, deps: { budget } });
      const url = await test.app.listen({ port: 0, host: "127.0.0.1" });
      return { url, adminToken: test.adminToken, test, close: async () => (await test.close(), await budget.close()) };
    },
    (s, b) => void ([served, browser] = [s, b]),
  );

  it("shows today's units with a warning at 90 %, and saves Allow billed usage", async () => {
    const a = api(served.test.app, served.adminToken);
    const quiet = (await a.post("/v1/iclients", { name: "Quiet client", application: "gmail", clientId: "quiet.apps.googleusercontent.com", clientSecret: "GOCSPX-quiet-secret" })).json();
    const busy = (await a.post("/v1/iclients", { name: "Busy client", application: "gmail", clientId: "busy.apps.googleusercontent.com", clientSecret: "GOCSPX-busy-secret" })).json();
    await budget.spendDaily(quiet.id, utcDay(Date.now()), 120, DAILY);
    await budget.spendDaily(busy.id, utcDay(Date.now()), 950, DAILY);

    const page = await browser.newPage();
    await signIn(page, served.adminToken);
    await page.getByRole("button", { name: "Resources" }).click();
    await page.getByRole("menuitem", { name: "iClients" }).click();
    const row = (name: string) => page.getByRole("row").filter({ has: page.getByRole("rowheader", { name }) });
    await poll(() => row("Busy client").textContent()).toContain("950 of 1,000 (95 %)");
    expect(await row("Busy client").getByRole("status").textContent()).toContain("Near the daily quota");
    expect(await row("Quiet client").textContent()).toContain("120 of 1,000 (12 %)");
    expect(await row("Quiet client").getByRole("status").count()).toBe(0);
    await screenshot(page, "iclients-daily-usage");

    await row("Busy client").getByRole("button", { name: "Edit" }).click();
    const dialog = page.getByRole("dialog", { name: "Edit iClient" });
    const billed = dialog.getByRole("checkbox", { name: "Allow billed usage" });
    expect(await billed.isChecked()).toBe(false);
    await billed.check();
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.waitFor({ state: "detached" });
    await poll(() => row("Busy client").textContent()).toContain("Billed usage allowed");
    expect((await a.get(`/v1/iclients/${busy.id}`)).json()).toMatchObject({ allowBilledUsage: true, clientSecretHint: busy.clientSecretHint });
    expect((await a.get(`/v1/iclients/${quiet.id}`)).json().allowBilledUsage).toBe(false);
  });
});
