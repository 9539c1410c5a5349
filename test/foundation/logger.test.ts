import { describe, expect, it } from "vitest";
import Fastify from "fastify";
import { Writable } from "node:stream";
import { loggerOptions, redactUrl } from "../../server/logger.ts";

function capture() {
  const lines: string[] = [];
  const stream = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
  // The service's logger options, as Fastify builds them (its default err serializer keeps `cause`).
  const app = Fastify({ logger: { ...(loggerOptions("info") as object), stream } as any });
  return { log: app.log, lines };
}

describe("logger redaction", () => {
  it("keeps OAuth query parameters out of logged URLs", () => {
    expect(redactUrl("/oauth2/callback?state=abc&code=4/xyz&scope=a")).toBe("/oauth2/callback?state=[redacted]&code=[redacted]&scope=a");
  });

  it("removes secrets carried by a Google client error and its cause", () => {
    const { log, lines } = capture();
    const gaxios = Object.assign(new Error("invalid_grant"), {
      config: { data: "refresh_token=1//secret-refresh&client_secret=GOCSPX-secret", headers: { Authorization: "Bearer ya29.secret" }, url: "https://oauth2.googleapis.com/token" },
      response: { status: 400, config: { data: "client_secret=GOCSPX-secret" } },
    });
    const wrapped = new Error("Google refused", { cause: gaxios });
    log.error({ err: gaxios, clientSecret: "GOCSPX-secret", body: { refresh_token: "1//secret-refresh" } }, "one");
    log.error({ err: wrapped }, "two");
    const out = lines.join("");
    expect(out).toContain("invalid_grant");
    for (const s of ["GOCSPX-secret", "1//secret-refresh", "ya29.secret"]) expect(out).not.toContain(s);
  });
});
