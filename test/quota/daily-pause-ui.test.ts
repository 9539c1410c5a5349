/**
 * The run panel says when a run waits on Google's quota (issue 13, "Visible"): a run paused by its
 * iClient's daily units shows, in Chromium, that it waits and when it resumes on its own. The
 * pause is real: the flow spends the day's units against the emulator on a fake quota clock that
 * the test never moves, so the run stays paused while the page is read.
 */
import { describe, expect, it } from "vitest";
import { MemoryBudget, nextUtcDay } from "../../server/quota/index.ts";
import { testChromium } from "../support/services.ts";
import { flowWorld, type FlowWorld } from "../flows/support.ts";
import { poll, screenshot, signIn, UI_TEST_MS, useServiceAndBrowser, type TestBrowser } from "../ui/support/browser.ts";
import { FakeClock } from "./fake-clock.ts";

describe.skipIf(!testChromium)("run panel: a run paused by the daily units", { timeout: UI_TEST_MS }, () => {
  const clock = new FakeClock(Date.now());
  const budget = new MemoryBudget({ clock });
  let w: FlowWorld;
  let adminToken: string;
  let browser: TestBrowser;
  useServiceAndBrowser(
    async () => {
      w = await flowWorld({ env: { GMAIL_PROJECT_DAILY_UNITS: "300" }, deps: { budget, quotaClock: clock } });
      const url = await w.t.app.listen({ port: 0, host: "127.0.0.1" });
      return { url, adminToken: w.t.adminToken, close: async () => (await w.close(), await budget.close()) };
    },
    (s, b) => void ([adminToken, browser] = [s.adminToken, b]),
  );

  it("says the run waits on Google's quota and when it resumes", async () => {
    const src = await w.mailbox({ generate: 20 });
    const dst = await w.mailbox();
    const name = "Paused by quota";
    const flowId = await w.flow({ name, source: { connectionId: src.connectionId }, destinations: [{ connectionId: dst.connectionId, import: { action: "insert" } }] });
    const runId = (await w.a.post(`/v1/flows/${flowId}/run`)).json().runId;
    await expect.poll(async () => (await w.a.get(`/v1/runs/${runId}`)).json().errors?.[0]?.code, { timeout: 60_000, interval: 50 }).toBe("daily_quota_reached");
    const resumeAt = nextUtcDay(clock.now());

    const page = await browser.newPage();
    await signIn(page, adminToken);
    await page.getByRole("link", { name: "Flows", exact: true }).click();
    await page.getByRole("row", { name: new RegExp(name) }).getByRole("link", { name }).click();
    const run = page.getByRole("region", { name: "Run", exact: true });
    const note = run.getByRole("status").filter({ hasText: "Waiting on Google's quota" });
    await poll(() => note.textContent()).toContain("this iClient spent its Gmail units of today");
    // The time is shown in the browser's own zone; the date it names is the resume time's.
    const shown = await page.evaluate((iso) => new Date(iso).toLocaleString(), resumeAt.toISOString());
    expect(await note.textContent()).toContain(shown);
    await screenshot(page, "run-paused-daily-quota");
    await page.close();
  });
});
