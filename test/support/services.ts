/**
 * Access to the real backing services the integration suites need.
 *
 * `.ci/run` starts Redis and PostgreSQL and exports `TEST_REDIS_URL` and
 * `TEST_DATABASE_URL`, and installs Chromium. On a developer machine without
 * them the suites that need them are skipped; under `CI=true` a missing
 * service is a failure, never a skip.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";

const inCi = process.env.CI === "true";

function service(name: "TEST_REDIS_URL" | "TEST_DATABASE_URL"): string | undefined {
  const value = process.env[name];
  if (!value && inCi) {
    throw new Error(`${name} is not set: under CI=true this suite must not skip`);
  }
  return value || undefined;
}

/** Redis URL for tests, or undefined (skip) outside CI. */
export const testRedisUrl = service("TEST_REDIS_URL");

/** PostgreSQL admin URL for tests, or undefined (skip) outside CI. */
export const testDatabaseUrl = service("TEST_DATABASE_URL");

/** Debian's Chromium for the UI suites, or undefined (skip) outside CI when it is not installed. */
export const testChromium: string | undefined = (() => {
  const path = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  if (existsSync(path)) return path;
  if (inCi) throw new Error(`${path} is missing: under CI=true the browser suites must not skip`);
  return undefined;
})();

/** A random namespace, so suites never share keys, queues or schemas. */
export function uniqueName(prefix = "t"): string {
  return `${prefix}_${randomBytes(6).toString("hex")}`;
}
