/**
 * The trigger model through the API: defaults, strict validation (400 naming
 * the field), the Gmail trigger's scope check, nextRunAt and watch in GET,
 * what started a run, and all of it in the OpenAPI document.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flowWorld, READONLY, type FlowWorld } from "../flows/support.ts";

const SEND = "https://www.googleapis.com/auth/gmail.send";
const T0 = Date.parse("2026-03-02T07:58:30Z"); // a Monday

describe("flow triggers API", () => {
  let w: FlowWorld;
  let src: { email: string; connectionId: string };
  let dst: { email: string; connectionId: string };
  const clock = { t: T0 };

  beforeAll(async () => {
    w = await flowWorld({ deps: { triggers: { now: () => clock.t } } });
    src = await w.mailbox({ generate: 3 });
    dst = await w.mailbox();
  });
  afterAll(() => w?.close());

  const body = (extra: Record<string, unknown>, source = src) => ({
    name: `f ${Math.random().toString(36).slice(2, 8)}`,
    source: { connectionId: source.connectionId },
    destinations: [{ connectionId: dst.connectionId, import: { action: "insert" } }],
    ...extra,
  });
  const rejects = async (extra: Record<string, unknown>, field: string) => {
    const res = await w.a.post("/v1/flows", body(extra));
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error.code).toBe("validation_failed");
    expect(res.json().error.message).toContain(field);
  };

  it("defaults to a manual, enabled flow with no next run; a run records that it was started by hand", async () => {
    const res = await w.a.post("/v1/flows", body({}));
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ trigger: { type: "manual" }, enabled: true, nextRunAt: null });
    expect(res.json().watch).toBeUndefined();
    const run = await w.run(res.json().id);
    expect(run).toMatchObject({ status: "succeeded", trigger: "manual" });
    expect((await w.a.get(`/v1/flows/${res.json().id}/runs`)).json().items[0].trigger).toBe("manual");
  });

  it("rejects a bad interval, cron or zone with a 400 on that field", async () => {
    await rejects({ trigger: { type: "schedule", every: "30s" } }, "body.trigger.every");
    await rejects({ trigger: { type: "schedule", every: "15x" } }, "body.trigger.every");
    await rejects({ trigger: { type: "schedule", cron: "61 * * * *" } }, "body.trigger.cron");
    await rejects({ trigger: { type: "schedule", cron: "* * * *" } }, "body.trigger.cron");
    await rejects({ trigger: { type: "schedule", cron: "*/10 * * * * *" } }, "body.trigger.cron");
    await rejects({ trigger: { type: "schedule", cron: "0 8 * * 1-5", timezone: "Mars/Olympus_Mons" } }, "body.trigger.timezone");
    await rejects({ trigger: { type: "schedule", every: "1h", cron: "0 8 * * 1-5" } }, "body.trigger");
    await rejects({ trigger: { type: "schedule" } }, "body.trigger");
    await rejects({ trigger: { type: "schedule", every: "1h", timezone: "UTC" } }, "body.trigger.timezone");
    await rejects({ trigger: { type: "schedule", every: "1h", labelIds: ["INBOX"] } }, "body.trigger.labelIds");
    await rejects({ trigger: { type: "gmail", pollEvery: "20s" } }, "body.trigger.pollEvery");
    await rejects({ trigger: { type: "gmail", every: "5m" } }, "body.trigger.every");
    await rejects({ trigger: { type: "webhook" } }, "body.trigger.type");
    await rejects({ enabled: "yes" }, "body.enabled");
    expect((await w.a.get("/v1/flows")).json().items).toHaveLength(1); // none of them was created
  });

  it("schedules a cron in its time zone and shows the next run; disabling clears it", async () => {
    const res = await w.a.post("/v1/flows", body({ trigger: { type: "schedule", cron: "0 8 * * 1-5", timezone: "Europe/Berlin" } }));
    expect(res.statusCode, res.body).toBe(201);
    // 07:58:30 UTC on Monday 2 March is 08:58:30 in Berlin: the next 08:00 Berlin is Tuesday 07:00 UTC.
    expect(res.json()).toMatchObject({ trigger: { type: "schedule", cron: "0 8 * * 1-5", timezone: "Europe/Berlin" }, enabled: true, nextRunAt: "2026-03-03T07:00:00.000Z" });
    const id = res.json().id;
    const off = await w.a.patch(`/v1/flows/${id}`, { enabled: false });
    expect(off.statusCode, off.body).toBe(200);
    expect(off.json()).toMatchObject({ enabled: false, nextRunAt: null });
    const on = await w.a.patch(`/v1/flows/${id}`, { enabled: true });
    expect(on.json()).toMatchObject({ enabled: true, nextRunAt: "2026-03-03T07:00:00.000Z" });
    const listed = (await w.a.get("/v1/flows")).json().items.find((f: { id: string }) => f.id === id);
    expect(listed).toMatchObject({ trigger: { type: "schedule" }, nextRunAt: "2026-03-03T07:00:00.000Z" });
  });

  it("refuses a Gmail trigger on a connection that cannot read history, naming the scope", async () => {
    const sendOnly = await w.mailbox({ scopes: [SEND] });
    const res = await w.a.post("/v1/flows", body({ trigger: { type: "gmail", labelIds: ["INBOX"] } }, sendOnly));
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error.message).toContain("https://www.googleapis.com/auth/gmail.readonly");
    expect(res.json().error.details[0]).toMatchObject({ field: "body.trigger", missingScope: READONLY });
    // Changing an existing flow's source to that connection is refused the same way.
    const ok = await w.a.post("/v1/flows", body({ trigger: { type: "gmail" } }));
    expect(ok.statusCode, ok.body).toBe(201);
    const moved = await w.a.patch(`/v1/flows/${ok.json().id}`, { source: { connectionId: sendOnly.connectionId } });
    expect(moved.statusCode).toBe(400);
  });

  it("shows a Gmail trigger's poll watch and its next poll", async () => {
    const readonly = await w.mailbox({ scopes: [READONLY], generate: 2 });
    const res = await w.a.post("/v1/flows", body({ trigger: { type: "gmail", labelIds: ["INBOX"], pollEvery: "5m" } }, readonly));
    expect(res.statusCode, res.body).toBe(201);
    // An interval fires when enabled, then every interval.
    expect(res.json()).toMatchObject({ enabled: true, nextRunAt: new Date(T0).toISOString(), watch: { mode: "poll", expiresAt: null, lastNotificationAt: null } });
    expect((await w.a.get(`/v1/flows/${res.json().id}`)).json().watch).toEqual({ mode: "poll", expiresAt: null, lastNotificationAt: null });
  });

  it("documents triggers in the OpenAPI document", async () => {
    const doc = (await w.t.app.inject({ url: "/docs/json" })).json();
    const create = doc.paths["/v1/flows"].post.requestBody.content["application/json"].schema;
    expect(create.properties.trigger.properties.type.enum).toEqual(["manual", "schedule", "gmail"]);
    expect(create.properties.enabled.type).toBe("boolean");
    const flow = doc.paths["/v1/flows/{id}"].get.responses["200"].content["application/json"].schema;
    expect(Object.keys(flow.properties)).toEqual(expect.arrayContaining(["trigger", "enabled", "nextRunAt", "watch"]));
    const run = doc.paths["/v1/runs/{id}"].get.responses["200"].content["application/json"].schema;
    expect(run.properties.trigger.enum).toEqual(["manual", "schedule", "push", "poll"]);
  });
});
