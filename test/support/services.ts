/**
 * Access to the real backing services the integration suites need.
 *
 * `.ci/run` starts Redis and PostgreSQL and exports `TEST_REDIS_URL` and
 * `TEST_DATABASE_URL`. On a developer machine without them the suites that need
 * them are skipped; under `CI=true` a missing service is a failure, never a skip.
 */
import { randomBytes } from "node:crypto";

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

/** A random namespace, so suites never share keys, queues or schemas. */
export function uniqueName(prefix = "t"): string {
  return `${prefix}_${randomBytes(6).toString("hex")}`;
}
