import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../server/config.ts";

describe("quota configuration", () => {
  it("defaults to Google's 2026 numbers", () => {
    expect(loadConfig({}, []).gmailQuota).toEqual({ userUnitsPerMinute: 6_000, projectUnitsPerMinute: 1_200_000, projectDailyUnits: 80_000_000 });
  });

  it("reads each variable, and refuses what is not a whole number from 1, naming every one", () => {
    const env = { GMAIL_USER_QUOTA_UNITS_PER_MINUTE: "600", GMAIL_PROJECT_QUOTA_UNITS_PER_MINUTE: "12000", GMAIL_PROJECT_DAILY_UNITS: "1000" };
    expect(loadConfig(env, []).gmailQuota).toEqual({ userUnitsPerMinute: 600, projectUnitsPerMinute: 12_000, projectDailyUnits: 1_000 });
    const bad = { GMAIL_USER_QUOTA_UNITS_PER_MINUTE: "0", GMAIL_PROJECT_QUOTA_UNITS_PER_MINUTE: "many", GMAIL_PROJECT_DAILY_UNITS: "1.5" };
    let err: unknown;
    try {
      loadConfig(bad, []);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join("\n");
    for (const name of Object.keys(bad)) expect(problems).toContain(name);
  });
});
