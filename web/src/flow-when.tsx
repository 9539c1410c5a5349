/**
 * The builder's **When** section (SPEC §4): **Run manually**, **On a
 * schedule** (**Every** or **Cron** with **Time zone**) or **When new mail
 * arrives** (labels, query); an **Enabled** switch; and, for the saved flow,
 * the next run time and the watch state beside it.
 */
import type { Flow } from "./api.ts";
import { LabeledField } from "./field.tsx";
import type { WhenDraft } from "./flow-draft.ts";

const zones = (): string[] => {
  try {
    return (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.("timeZone") ?? [];
  } catch {
    return [];
  }
};

/** Radio buttons in a row (CSSOM styles: the panel's CSP allows no style attributes). */
const choices = { border: "0", padding: "0", margin: "0 0 0.8rem", display: "flex", flexWrap: "wrap", gap: "1.2rem" };

/** The panel's stylesheet sizes checkboxes, not radios: the same for these. */
const radioStyle = { width: "auto", minHeight: "0", margin: "0 0.3rem 0 0" };

const when = (iso: string) => new Date(iso).toLocaleString();

/** The saved flow's next run and watch state, as one sentence. */
export function triggerStatus(flow: Flow | undefined): string | undefined {
  if (!flow || !flow.trigger || flow.trigger.type === "manual") return undefined;
  if (flow.enabled === false) return "Disabled: it runs only when you press Run flow.";
  const parts: string[] = [];
  if (flow.watch) parts.push(flow.watch.mode === "push" ? "Watching the mailbox (push)." : "Watching the mailbox by polling.");
  if (flow.nextRunAt) parts.push(`${flow.trigger.type === "gmail" ? "Next check" : "Next run"}: ${when(flow.nextRunAt)}.`);
  if (flow.watch) parts.push(flow.watch.lastNotificationAt ? `New mail last seen ${when(flow.watch.lastNotificationAt)}.` : "No new mail seen yet.");
  return parts.join(" ");
}

export function WhenCard(props: { when: WhenDraft; saved?: Flow; errors: Record<string, string>; onChange: (when: WhenDraft) => void }) {
  const w = props.when;
  const set = <K extends keyof WhenDraft>(key: K, value: WhenDraft[K]) => props.onChange({ ...w, [key]: value });
  const err = (path: string) => props.errors[`trigger.${path}`];
  const status = triggerStatus(props.saved);
  const radio = (name: string, value: string, checked: boolean, label: string, onPick: () => void) => (
    <label class="check" style={{ fontWeight: "normal", gap: "0.3rem" }}>
      <input type="radio" name={name} value={value} checked={checked} onChange={onPick} style={radioStyle} /> {label}
    </label>
  );

  return (
    <section class="step-card" aria-labelledby="flow-when-title">
      <header class="step-head">
        <h2 id="flow-when-title">When</h2>
        <label class="check">
          <input type="checkbox" role="switch" id="flow-enabled" checked={w.enabled} aria-checked={w.enabled ? "true" : "false"} onChange={(e) => set("enabled", e.currentTarget.checked)} /> Enabled
        </label>
      </header>
      {(props.errors.trigger || props.errors.enabled) && (
        <p class="error" role="alert">
          {props.errors.trigger ?? props.errors.enabled}
        </p>
      )}
      <fieldset style={choices}>
        <legend class="sr-only">What starts the flow</legend>
        {radio("flow-when", "manual", w.type === "manual", "Run manually", () => set("type", "manual"))}
        {radio("flow-when", "schedule", w.type === "schedule", "On a schedule", () => set("type", "schedule"))}
        {radio("flow-when", "gmail", w.type === "gmail", "When new mail arrives", () => set("type", "gmail"))}
      </fieldset>

      {w.type === "schedule" && (
        <>
          <fieldset style={choices}>
            <legend class="sr-only">Schedule</legend>
            {radio("flow-schedule", "every", w.schedule === "every", "Every", () => set("schedule", "every"))}
            {radio("flow-schedule", "cron", w.schedule === "cron", "Cron", () => set("schedule", "cron"))}
          </fieldset>
          {w.schedule === "every" ? (
            <LabeledField id="flow-every" label="Every" hint="An interval such as 15m, 2h or 1d; at least 1m. It runs when enabled, then every interval." error={err("every")}>
              {(a) => <input {...a} value={w.every} maxLength={8} onInput={(e) => set("every", e.currentTarget.value)} />}
            </LabeledField>
          ) : (
            <>
              <LabeledField id="flow-cron" label="Cron" hint="Five fields: minute hour day-of-month month day-of-week. 0 8 * * 1-5 is 08:00 on weekdays." error={err("cron")}>
                {(a) => <input {...a} value={w.cron} maxLength={200} spellcheck={false} onInput={(e) => set("cron", e.currentTarget.value)} />}
              </LabeledField>
              <LabeledField id="flow-timezone" label="Time zone" hint="Such as Europe/Berlin." error={err("timezone")}>
                {(a) => <input {...a} value={w.timezone} list="flow-timezones" maxLength={64} onInput={(e) => set("timezone", e.currentTarget.value)} />}
              </LabeledField>
              <datalist id="flow-timezones">
                {zones().map((z) => (
                  <option key={z} value={z} />
                ))}
              </datalist>
            </>
          )}
        </>
      )}

      {w.type === "gmail" && (
        <>
          <LabeledField id="flow-when-labels" label="Labels" hint="Label ids the new message must carry, comma separated (INBOX by default)." error={err("labelIds")}>
            {(a) => <input {...a} value={w.labels} onInput={(e) => set("labels", e.currentTarget.value)} />}
          </LabeledField>
          <LabeledField id="flow-when-query" label="Search query" hint="Only new mail this Gmail search matches, such as from:billing@example.com." error={err("query")}>
            {(a) => <input {...a} value={w.query} maxLength={2000} onInput={(e) => set("query", e.currentTarget.value)} />}
          </LabeledField>
          <p class="hint">Only mail that arrives after the flow is enabled starts a run; each message is delivered once.</p>
        </>
      )}

      {status && (
        <p class="hint" id="flow-when-status" role="status">
          {status}
        </p>
      )}
    </section>
  );
}
