/**
 * The sandbox wires Gmail push end to end: the emulator mounted in the service pushes to the
 * service's own `/hooks/gmail` (JWT signed by the emulator's key, checked against the
 * sandbox's certs URL), so a Gmail-triggered flow on the demo mailbox runs within seconds of
 * `POST /sandbox/google/_admin/users/demo@mailbridge.test/messages`, without a poll.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { SANDBOX_USER } from "../../server/sandbox.ts";
import { api, type TestApp } from "../support/app.ts";
import { startSandboxApp } from "../support/sandbox.ts";
import { authorizeConnection } from "../support/google.ts";
import { rawMessage } from "../flows/support.ts";
import { runsOf, settled, ticker, until } from "./support.ts";
import type { FlowWorld } from "../flows/support.ts";

let t: TestApp;

beforeAll(async () => {
  t = await startSandboxApp();
}, 60_000);
afterAll(() => t?.close());

it("runs a Gmail-triggered flow on the demo mailbox within seconds of mail arriving, by push", async () => {
  const a = api(t.app, t.adminToken);
  const emu = (method: "GET" | "POST", url: string, payload?: object) =>
    t.app.inject({ method, url: `/sandbox/google/_admin${url}`, headers: { authorization: `Bearer ${t.adminToken}` }, ...(payload ? { payload } : {}) });
  const dest = "archive@mailbridge.test";
  expect((await emu("POST", "/users", { email: dest })).statusCode).toBe(201);
  const iclient = (await a.get("/v1/iclients")).json().items.find((i: { name: string }) => i.name === "Sandbox client");
  const connect = async (email: string) => {
    const res = await a.post("/v1/connections", { name: `sandbox ${email}`, application: "gmail", scopes: ["https://mail.google.com/"], iClientId: iclient.id });
    expect(res.statusCode, res.body).toBe(201);
    expect((await authorizeConnection(t.app, t.adminToken, res.json().id, { email })).statusCode).toBe(200);
    return res.json().id as string;
  };
  const src = await connect(SANDBOX_USER);
  const dst = await connect(dest);
  const flow = await a.post("/v1/flows", {
    name: "demo inbox copy",
    source: { connectionId: src, export: { format: "metadata" } },
    destinations: [{ connectionId: dst, import: { action: "insert" } }],
    trigger: { type: "gmail", labelIds: ["INBOX"] },
  });
  expect(flow.statusCode, flow.body).toBe(201);
  const id = flow.json().id as string;
  await ticker(t.app).check(); // the poll made on enabling; the next is 10 minutes away
  expect(flow.json().watch).toMatchObject({ mode: "push", expiresAt: expect.any(String) });

  const sent = Date.now();
  const arrived = await emu("POST", `/users/${SANDBOX_USER}/messages`, { raw: rawMessage({ to: SANDBOX_USER, subject: "sandbox push" }) });
  expect(arrived.statusCode, arrived.body).toBe(201);
  const w = { a } as unknown as FlowWorld;
  const [run] = await until(async () => ((r) => r.length === 1 && settled(r) && r)(await runsOf(w, id)), "the pushed run", 15_000);
  const lag = Date.now() - sent;
  expect(run).toMatchObject({ trigger: "push", status: "succeeded", progress: { exported: 1, imported: 1 } });
  expect(lag).toBeLessThan(10_000);
  console.info(`sandbox push: mail arrival to delivered run in ${lag} ms`);
  const copied = (await emu("GET", `/users/${dest}`)).json().messages.map((m: { subject: string }) => m.subject);
  expect(copied).toEqual(["sandbox push"]);
}, 60_000);
