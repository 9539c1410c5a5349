/**
 * The builder's **When** section in real Chromium against `server/main.ts
 * --sandbox`: a cron schedule with its time zone and the next run shown, a bad
 * cron and a bad zone told next to their fields, an interval schedule whose run
 * appears and succeeds without pressing Run (the runs list says what started
 * it), then "When new mail arrives" with its watch state, and **Enabled** off.
 */
import { describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { poll, screenshot, signIn, UI_TEST_MS, useServiceAndBrowser, type TestBrowser } from "../ui/support/browser.ts";
import { startSandboxService, type SandboxService } from "../ui/support/service.ts";
import { testChromium } from "../support/services.ts";

const DEMO = "demo@mailbridge.test";
const SCOPE = (s: string) => `https://www.googleapis.com/auth/${s}`;

describe.skipIf(!testChromium)("the builder's When section (sandbox)", { timeout: UI_TEST_MS }, () => {
  let service: SandboxService;
  let browser: TestBrowser;
  useServiceAndBrowser(startSandboxService, (s, b) => void ([service, browser] = [s, b]));

  async function authorizedConnection(page: Page): Promise<string> {
    const iclients = (await (await page.request.get("/v1/iclients")).json()).items;
    const created = await page.request.post("/v1/connections", {
      data: { name: "Demo mailbox", application: "gmail", scopes: [SCOPE("gmail.readonly"), SCOPE("gmail.insert")], iClientId: iclients.find((c: { name: string }) => c.name === "Sandbox client").id },
    });
    expect(created.status(), await created.text()).toBe(201);
    const id = (await created.json()).id;
    const started = await page.request.post(`/v1/connections/${id}/authorize`, { data: {} });
    expect(started.status(), await started.text()).toBeLessThan(300);
    const popup = await page.context().newPage();
    await popup.goto((await started.json()).authorizeUrl);
    await popup.getByRole("textbox", { name: "Email", exact: true }).fill(DEMO);
    await popup.getByRole("button", { name: "Allow" }).click();
    await poll(async () => (await (await page.request.get(`/v1/connections/${id}`)).json()).status).toBe("online");
    await popup.close();
    return id;
  }

  it("schedules a flow, shows its next run and what started each run, and watches for new mail", async () => {
    const page = await browser.newPage();
    await signIn(page, service.adminToken);
    await authorizedConnection(page);
    await page.getByRole("link", { name: "Flows" }).click();
    await page.getByRole("button", { name: "Create flow" }).click();
    await page.getByRole("heading", { name: "New flow" }).waitFor();
    await page.getByRole("textbox", { name: "Name" }).fill("Weekday copy");
    for (const [button, region] of [
      ["Add source", "Source"],
      ["Add destination/lookup", "Destination 1"],
    ] as const) {
      await page.getByRole("button", { name: button }).click();
      await page.getByRole("dialog", { name: "Choose an application" }).getByRole("button", { name: "Google Mail" }).click();
      await page.getByRole("region", { name: region }).getByRole("combobox", { name: "Connection" }).selectOption({ label: `Demo mailbox (${DEMO})` });
    }
    await page.getByRole("region", { name: "Source" }).getByLabel("Max messages", { exact: true }).fill("3");
    const destination = page.getByRole("region", { name: "Destination 1" });
    await destination.getByRole("combobox", { name: "Action" }).selectOption("insert");
    await destination.getByRole("textbox", { name: "Labels" }).fill("STARRED");

    // When: Run manually by default; On a schedule → Cron with a time zone.
    const when = page.getByRole("region", { name: "When" });
    expect(await when.getByRole("radio", { name: "Run manually" }).isChecked()).toBe(true);
    expect(await when.getByRole("switch", { name: "Enabled" }).isChecked()).toBe(true);
    await when.getByRole("radio", { name: "On a schedule" }).check();
    await when.getByRole("radio", { name: "Cron" }).check();
    const cron = when.getByRole("textbox", { name: "Cron" });
    await cron.fill("0 8 * *");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await poll(() => cron.getAttribute("aria-invalid")).toBe("true"); // told before asking the service
    await cron.fill("0 8 * * 1-5");
    const zone = when.getByRole("combobox", { name: "Time zone" });
    await zone.fill("Mars/Olympus_Mons");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await poll(() => zone.getAttribute("aria-invalid")).toBe("true"); // the service's 400 on body.trigger.timezone
    expect(await page.locator("#flow-timezone-error").textContent()).toMatch(/time zone/i);
    await zone.fill("Europe/Berlin");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByRole("status").filter({ hasText: "Saved Weekday copy." }).waitFor();
    await when.getByText(/Next run: /).waitFor();
    const flowId = decodeURIComponent(new URL(page.url()).hash.replace("#/flows/", ""));
    const saved = await (await page.request.get(`/v1/flows/${flowId}`)).json();
    expect(saved).toMatchObject({ trigger: { type: "schedule", cron: "0 8 * * 1-5", timezone: "Europe/Berlin" }, enabled: true, nextRunAt: expect.any(String) });
    await screenshot(page, "flows-when-cron");

    // Every 1m: it runs when enabled; the run appears and succeeds without pressing Run.
    await when.getByRole("radio", { name: "Every" }).check();
    await when.getByRole("textbox", { name: "Every" }).fill("1m");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    const run = page.getByRole("region", { name: "Run", exact: true });
    await poll(() => run.locator("#run-counts").textContent()).toMatch(/^Succeeded:/);
    await run.getByText("Started by: Schedule").waitFor();
    await screenshot(page, "flows-when-scheduled-run");

    // When new mail arrives: the watch state shows; Enabled off stops it.
    await when.getByRole("radio", { name: "When new mail arrives" }).check();
    expect(await when.getByRole("textbox", { name: "Labels" }).inputValue()).toBe("INBOX");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await when.getByText(/Watching the mailbox \(push\)/).waitFor(); // the sandbox wires Gmail push
    expect((await (await page.request.get(`/v1/flows/${flowId}`)).json()).watch).toMatchObject({ mode: "push", expiresAt: expect.any(String) });
    // Mail arriving in the demo mailbox is pushed: its run appears and succeeds without pressing Run.
    const arrived = await page.request.post(`/sandbox/google/_admin/users/${DEMO}/messages`, {
      headers: { authorization: `Bearer ${service.adminToken}` },
      data: { raw: `From: a@example.org\r\nTo: ${DEMO}\r\nSubject: pushed to the builder\r\n\r\nhello\r\n` },
    });
    expect(arrived.status(), await arrived.text()).toBe(201);
    await run.getByText("Started by: New mail").waitFor();
    await poll(() => run.locator("#run-counts").textContent()).toMatch(/^Succeeded:/);
    const runs = (await (await page.request.get(`/v1/flows/${flowId}/runs`)).json()).items;
    expect(runs.find((r: { trigger: string }) => r.trigger === "push")).toMatchObject({ status: "succeeded", progress: { exported: 1 } });
    await when.getByRole("switch", { name: "Enabled" }).uncheck();
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await when.getByText(/Disabled/).waitFor();
    expect(await (await page.request.get(`/v1/flows/${flowId}`)).json()).toMatchObject({ enabled: false, nextRunAt: null, trigger: { type: "gmail", labelIds: ["INBOX"] } });
    await screenshot(page, "flows-when-gmail-disabled");
    await page.close();
  });
});
