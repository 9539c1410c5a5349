/**
 * One destination of a flow: a Gmail connection and what it does with each
 * exported message (**Action**, **Labels**), and for send, reply and draft the
 * message templates (**To**, **Cc**, **Subject**, **Body**).
 */
import type { Connection } from "./api.ts";
import { LabeledField } from "./field.tsx";
import { ConnectionChoice } from "./connection-choice.tsx";
import { ACTIONS, COMPOSING, LABELLING, type DestinationDraft } from "./flow-draft.ts";

const TEMPLATE_HINT = (
  <>
    Placeholders: <code>{"{{from}} {{to}} {{subject}} {{snippet}} {{date}} {{text}}"}</code>
  </>
);

export function DestinationCard(props: {
  index: number;
  destination: DestinationDraft;
  applicationName: string;
  connections: Connection[] | undefined;
  errors: Record<string, string>;
  onChange: (destination: DestinationDraft) => void;
  onCreateConnection: () => void;
  onRemove: () => void;
}) {
  const d = props.destination;
  const n = props.index;
  const id = (name: string) => `flow-dst-${n}-${name}`;
  const err = (path: string) => props.errors[`destinations.${n}.${path}`];
  const set = <K extends keyof DestinationDraft>(key: K, value: DestinationDraft[K]) => props.onChange({ ...d, [key]: value });
  const general = props.errors[`destinations.${n}`] ?? err("import") ?? err("mapping");
  const action = d.action || undefined;

  return (
    <section class="step-card" aria-labelledby={id("title")}>
      <header class="step-head">
        <h2 id={id("title")}>Destination {n + 1}</h2>
        <span class="muted">{props.applicationName} · import</span>
        <button type="button" class="danger-link" onClick={props.onRemove} aria-label={`Remove destination ${n + 1}`}>
          Remove
        </button>
      </header>
      {general && (
        <p class="error" role="alert">
          {general}
        </p>
      )}
      <ConnectionChoice
        id={id("connection")}
        application={d.application}
        connections={props.connections}
        value={d.connectionId}
        error={err("connectionId")}
        onChange={(v) => set("connectionId", v)}
        onCreate={props.onCreateConnection}
      />
      <div class="field-grid">
        <LabeledField id={id("action")} label="Action" error={err("import.action")} hint={ACTIONS.find((x) => x.value === action)?.hint}>
          {(a) => (
            <select {...a} value={d.action} onChange={(e) => set("action", e.currentTarget.value as DestinationDraft["action"])}>
              <option value="">Choose an action…</option>
              {ACTIONS.map((x) => (
                <option key={x.value} value={x.value}>
                  {x.label}
                </option>
              ))}
            </select>
          )}
        </LabeledField>
        {action && LABELLING.includes(action) && (
          <LabeledField id={id("labels")} label="Labels" error={err("import.labelIds")} hint="Label ids, comma-separated (INBOX, STARRED, Label_12).">
            {(a) => <input {...a} value={d.labels} onInput={(e) => set("labels", e.currentTarget.value)} />}
          </LabeledField>
        )}
      </div>
      {action && COMPOSING.includes(action) && (
        <fieldset class="mapping">
          <legend>Mapping</legend>
          <p class="hint">{TEMPLATE_HINT}. Empty fields keep Gmail's defaults{action === "reply" ? " (a reply goes to the sender)" : ""}.</p>
          <div class="field-grid">
            <LabeledField id={id("to")} label="To" error={err("mapping.to")}>
              {(a) => <input {...a} value={d.to} placeholder="{{from}}" onInput={(e) => set("to", e.currentTarget.value)} />}
            </LabeledField>
            <LabeledField id={id("cc")} label="Cc" error={err("mapping.cc")}>
              {(a) => <input {...a} value={d.cc} onInput={(e) => set("cc", e.currentTarget.value)} />}
            </LabeledField>
          </div>
          <LabeledField id={id("subject")} label="Subject" error={err("mapping.subject")}>
            {(a) => <input {...a} value={d.subject} placeholder="Fwd: {{subject}}" onInput={(e) => set("subject", e.currentTarget.value)} />}
          </LabeledField>
          <LabeledField id={id("text")} label="Body" error={err("mapping.text")}>
            {(a) => <textarea {...a} rows={4} value={d.text} placeholder="{{text}}" onInput={(e) => set("text", e.currentTarget.value)} />}
          </LabeledField>
        </fieldset>
      )}
    </section>
  );
}
