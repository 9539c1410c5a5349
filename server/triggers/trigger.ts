/**
 * The trigger model: what starts a flow's runs by themselves (SPEC §2
 * "Triggers"), its strict validation (durations, cron through cron-parser,
 * time zones through Intl) and the ticks a schedule or a poll fires at.
 */
import { CronExpressionParser } from "cron-parser";
import { METHOD_SCOPES } from "../../connector/gmail-methods.ts";
import { ApiError } from "../../core/errors.ts";

export type ManualTrigger = { type: "manual" };
export type ScheduleTrigger = { type: "schedule"; every: string } | { type: "schedule"; cron: string; timezone?: string };
export interface GmailTrigger {
  type: "gmail";
  labelIds?: string[];
  query?: string;
  /** How often history is polled. @defaultValue {@link DEFAULT_POLL_EVERY} */
  pollEvery?: string;
  /** Deliver the recent past once when enabled (a duration), instead of only mail arriving afterwards. */
  backfill?: string;
}
export type Trigger = ManualTrigger | ScheduleTrigger | GmailTrigger;

/** What started a run. */
export type RunTrigger = "manual" | "schedule" | "push" | "poll";

export const MANUAL: ManualTrigger = Object.freeze({ type: "manual" });
/** Polling interval of a Gmail trigger without push (SPEC §2). */
export const DEFAULT_POLL_EVERY = "1m";
/** The safety-net poll of a Gmail trigger with push (SPEC §2). */
export const DEFAULT_PUSH_POLL_EVERY = "10m";
/** The shortest schedule or poll interval (SPEC §2). */
export const MIN_INTERVAL_MS = 60_000;
/** Scopes that allow `history.list` (and `users.watch`), one of which a Gmail trigger's source must grant. */
export const HISTORY_SCOPES: readonly string[] = METHOD_SCOPES["history.list"];

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export const DURATION_PATTERN = "^[1-9][0-9]{0,5}[smhd]$";

/** "15m" → 900000. */
export function durationMs(text: string): number {
  const m = /^([1-9][0-9]{0,5})([smhd])$/.exec(text);
  if (!m) throw new Error(`not a duration: ${text}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

const invalid = (field: string, message: string) => new ApiError("validation_failed", `${field} ${message}.`, [{ field, message }]);

export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function parseCron(expr: string, timezone: string | undefined, from: number) {
  return CronExpressionParser.parse(expr, { currentDate: new Date(from), tz: timezone ?? "UTC" });
}

export interface CheckOptions {
  /** The shortest interval accepted. @defaultValue {@link MIN_INTERVAL_MS} */
  minIntervalMs?: number;
}

/**
 * The rules the JSON Schema cannot say: which fields go with which type, a
 * cron cron-parser accepts with five fields, a zone Intl knows, intervals of
 * at least a minute. Throws a 400 naming the field.
 */
export function checkTrigger(trigger: Record<string, unknown>, opts: CheckOptions = {}): Trigger {
  const at = "body.trigger";
  const min = opts.minIntervalMs ?? MIN_INTERVAL_MS;
  const allowed: Record<string, string[]> = { manual: [], schedule: ["every", "cron", "timezone"], gmail: ["labelIds", "query", "pollEvery", "backfill"] };
  const type = trigger.type as Trigger["type"];
  for (const key of Object.keys(trigger)) {
    if (key !== "type" && !allowed[type]!.includes(key)) throw invalid(`${at}.${key}`, `is not used by ${type} triggers`);
  }
  const interval = (field: string) => {
    const text = trigger[field] as string;
    if (durationMs(text) < min) throw invalid(`${at}.${field}`, `must be at least ${min >= 60_000 ? `${min / 60_000} minute` : `${min / 1000} seconds`}`);
  };
  if (type === "schedule") {
    if ((trigger.every === undefined) === (trigger.cron === undefined)) throw invalid(at, "needs either every or cron");
    if (trigger.every !== undefined) {
      if (trigger.timezone !== undefined) throw invalid(`${at}.timezone`, "is only for cron");
      interval("every");
    } else {
      const tz = trigger.timezone as string | undefined;
      if (tz !== undefined && !isTimeZone(tz)) throw invalid(`${at}.timezone`, `is not a known time zone: "${tz}"`);
      const expr = (trigger.cron as string).trim();
      if (expr.split(/\s+/).length !== 5) throw invalid(`${at}.cron`, "must have five fields: minute hour day-of-month month day-of-week");
      try {
        parseCron(expr, tz, Date.now()).next();
      } catch (err) {
        throw invalid(`${at}.cron`, `is not a valid cron expression (${(err as Error).message})`);
      }
    }
  }
  if (type === "gmail") {
    if (trigger.pollEvery !== undefined) interval("pollEvery");
  }
  return trigger as unknown as Trigger;
}

/** The Gmail trigger's source connection must grant a scope that reads history (400 naming the missing scope otherwise). */
export function checkTriggerScopes(trigger: Trigger, grantedOrRequested: readonly string[]): void {
  if (trigger.type !== "gmail") return;
  if (HISTORY_SCOPES.some((s) => grantedOrRequested.includes(s))) return;
  const wanted = "https://www.googleapis.com/auth/gmail.readonly";
  throw new ApiError(
    "validation_failed",
    `body.trigger needs the source connection to grant ${wanted} (or gmail.metadata, gmail.modify or https://mail.google.com/) to see new mail; it is missing.`,
    [{ field: "body.trigger", message: `missing scope ${wanted}`, missingScope: wanted, acceptedScopes: HISTORY_SCOPES }],
  );
}

/** A trigger that fires by itself on a timer (a schedule tick or a poll). */
export type TimerSpec = { everyMs: number } | { cron: string; timezone: string };

export function timerOf(trigger: Trigger, defaultPollEvery = DEFAULT_POLL_EVERY): TimerSpec | undefined {
  if (trigger.type === "schedule") return "every" in trigger ? { everyMs: durationMs(trigger.every) } : { cron: trigger.cron.trim(), timezone: trigger.timezone ?? "UTC" };
  if (trigger.type === "gmail") return { everyMs: durationMs(trigger.pollEvery ?? defaultPollEvery) };
  return undefined;
}

/** The first tick strictly after `after` (an `every` timer ticks `everyMs` after its anchor, the last tick). */
export function nextTick(spec: TimerSpec, after: number): number {
  if ("everyMs" in spec) return after + spec.everyMs;
  return parseCron(spec.cron, spec.timezone, after).next().getTime();
}

/**
 * The latest tick due at `now` that follows `last`, or undefined when none is
 * due: however many ticks a stopped process missed, this is the one to fire.
 */
export function dueTick(spec: TimerSpec, last: number, now: number): number | undefined {
  const next = nextTick(spec, last);
  if (next > now) return undefined;
  if ("everyMs" in spec) return now; // an interval restarts from the late tick
  return parseCron(spec.cron, spec.timezone, now + 1).prev().getTime();
}
