/**
 * Dates and ages in Gmail search: `after:`/`before:` days read in the mailbox's time zone, and
 * `older_than:`/`newer_than:` in days or calendar months and years.
 */

const DAY = 86_400_000;

/**
 * The time zone `after:`/`before:` dates are read in: the mailbox's, Google's default Pacific
 * time for every emulated mailbox (GOOGLE.md "Search details").
 */
export const MAILBOX_TIME_ZONE = "America/Los_Angeles";

const zoneParts = new Intl.DateTimeFormat("en-US", {
  timeZone: MAILBOX_TIME_ZONE,
  hourCycle: "h23",
  year: "numeric",
  month: "numeric",
  day: "numeric",
  hour: "numeric",
  minute: "numeric",
  second: "numeric",
});

/** How far the mailbox's wall clock is ahead of UTC at instant `t` (negative in Pacific time). */
function zoneOffset(t: number): number {
  const parts = Object.fromEntries(zoneParts.formatToParts(t).map((p) => [p.type, Number(p.value)]));
  return Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second) - Math.floor(t / 1000) * 1000;
}

/** The instant of midnight starting that day in the mailbox's time zone. */
function midnight(year: number, month: number, day: number): number {
  const wall = Date.UTC(year, month - 1, day);
  if (Number.isNaN(wall)) return wall;
  // Twice: the offset at the first guess may be the other side of a daylight-saving change.
  const guess = wall - zoneOffset(wall);
  return wall - zoneOffset(guess);
}

export function parseDate(value: string): number | undefined {
  if (/^\d{9,}$/.test(value)) return Number(value) * 1000;
  const ymd = /^(\d{4})[/-](\d{1,2})[/-](\d{1,2})$/.exec(value);
  if (ymd) return midnight(Number(ymd[1]), Number(ymd[2]), Number(ymd[3]));
  const mdy = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(value);
  if (mdy) return midnight(Number(mdy[3]), Number(mdy[1]), Number(mdy[2]));
  return undefined;
}

/**
 * The instant `older_than:`/`newer_than:` compare with: `Nd` days, and `Nm`/`Ny` calendar months
 * and years back from now (GOOGLE.md "Search details"), the day clamped to the target month's
 * last day (Aug 31 minus 6 months is Feb 28 or 29).
 */
export function ageCutoff(value: string, now: number): number | undefined {
  const m = /^(\d+)([dmy])$/i.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2].toLowerCase();
  if (unit === "d") return now - n * DAY;
  const at = new Date(now);
  const months = at.getUTCFullYear() * 12 + at.getUTCMonth() - (unit === "m" ? n : 12 * n);
  const year = Math.floor(months / 12);
  const month = months - year * 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const back = new Date(now);
  back.setUTCFullYear(year, month, Math.min(at.getUTCDate(), lastDay));
  return back.getTime();
}
