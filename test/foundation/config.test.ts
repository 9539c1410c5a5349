import { describe, expect, it } from "vitest";
import { ConfigError, REAL_GOOGLE, loadConfig } from "../../server/config.ts";

describe("config", () => {
  it("defaults to real Google, port 3000 and the fixed callback URL", () => {
    const c = loadConfig({}, []);
    expect(c.port).toBe(3000);
    expect(c.host).toBe("127.0.0.1");
    expect(c.callbackUrl).toBe("http://localhost:3000/oauth2/callback");
    expect(c.google).toEqual(REAL_GOOGLE);
    expect(c.sandbox).toBe(false);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it("points Google at the mounted emulator in sandbox mode, and explicit overrides win", () => {
    const c = loadConfig({ PUBLIC_URL: "https://mb.example.com/", GOOGLE_TOKEN_URL: "http://tok.test/token" }, ["--sandbox"]);
    expect(c.callbackUrl).toBe("https://mb.example.com/oauth2/callback");
    expect(c.google.authUrl).toBe("https://mb.example.com/sandbox/google/o/oauth2/v2/auth");
    expect(c.google.gmailUrl).toBe("https://mb.example.com/sandbox/google/");
    expect(c.google.tokenUrl).toBe("http://tok.test/token");
  });

  it("lists every problem at once", () => {
    let error: unknown;
    try {
      loadConfig({ PORT: "abc", REDIS_URL: "http://x", SECRETS_KEY: "short", GOOGLE_CLIENT_ID: "id" }, []);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join("\n");
    expect(problems).toMatch(/PORT/);
    expect(problems).toMatch(/REDIS_URL/);
    expect(problems).toMatch(/SECRETS_KEY/);
    expect(problems).toMatch(/GOOGLE_CLIENT_SECRET/);
  });
});
