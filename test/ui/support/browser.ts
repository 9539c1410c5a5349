/**
 * Debian's Chromium driven by playwright-core (never a downloaded browser),
 * one per test file, with a fresh user-data-dir, and the screenshot every UI
 * test leaves in test-artifacts/ui/.
 */
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, expect } from "vitest";
import { mkdtemp, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { testChromium } from "../../support/services.ts";

export const CHROMIUM = testChromium ?? "/usr/bin/chromium";
export const ARTIFACTS = fileURLToPath(new URL("../../../test-artifacts/ui/", import.meta.url));
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/**
 * How long one wait (a locator's auto-wait, an event, a poll) may take before
 * the test fails. Waits end on the state or event they wait for, so this only
 * bounds a hang: it is generous because a machine running the whole suite on
 * two busy cores can take many seconds for a step that takes milliseconds alone.
 */
export const WAIT_MS = 60_000;
/** One browser test, or starting a service and a browser: many waits. */
export const UI_TEST_MS = 300_000;

/** `expect.poll` that retries until the state holds, bounded by {@link WAIT_MS} (vitest's default gives up after 1 s). */
export function poll<T>(read: () => T | Promise<T>) {
  return expect.poll(read, { timeout: WAIT_MS, interval: 50 });
}

export interface TestBrowser {
  context: BrowserContext;
  /** A new tab on `baseURL`, signed out. */
  newPage(viewport?: { width: number; height: number }): Promise<Page>;
  close(): Promise<void>;
}

export async function launchBrowser(baseURL: string): Promise<TestBrowser> {
  const userDataDir = await mkdtemp(path.join(tmpdir(), "mailbridge-ui-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    baseURL,
    viewport: DESKTOP,
    permissions: ["clipboard-read", "clipboard-write"],
  });
  context.setDefaultTimeout(WAIT_MS);
  context.setDefaultNavigationTimeout(WAIT_MS);
  return {
    context,
    async newPage(viewport = DESKTOP) {
      await context.clearCookies();
      const page = await context.newPage();
      await page.setViewportSize(viewport);
      return page;
    },
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The suite's service and a Chromium on its URL, in its `beforeAll`/`afterAll`: call inside the
 * `describe`. Before the tests it starts the service with `start`, launches the browser and
 * hands both to `use` (keep them, add listeners, check what the suite relies on); after them it
 * closes the browser, then the service, whatever of them was started.
 */
export function useServiceAndBrowser<S extends { url: string; close(): Promise<void> }>(
  start: () => Promise<S>,
  use: (service: S, browser: TestBrowser) => void | Promise<void>,
): void {
  let service: S | undefined;
  let browser: TestBrowser | undefined;
  beforeAll(async () => {
    service = await start();
    browser = await launchBrowser(service.url);
    await use(service, browser);
  }, UI_TEST_MS);
  afterAll(async () => {
    await browser?.close();
    await service?.close();
  });
}

/** Save the page as test-artifacts/ui/<name>.png; returns the path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name.replace(/[^a-z0-9-]+/gi, "-").toLowerCase()}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Sign in through the form, as a person would. */
export async function signIn(page: Page, token: string): Promise<void> {
  await page.goto("/");
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}
