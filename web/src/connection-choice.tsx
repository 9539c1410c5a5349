/**
 * The builder's connection step: a **Connection** select over the account's
 * connections of one application, and **Create connection**, which opens the
 * same Create connection pane as the Connections page.
 */
import type { Connection } from "./api.ts";
import { LabeledField } from "./field.tsx";
import { STATUS_TEXT } from "./connection-row.tsx";

export function ConnectionChoice(props: {
  id: string;
  application: string;
  connections: Connection[] | undefined;
  value: string;
  error?: string;
  onChange: (connectionId: string) => void;
  onCreate: () => void;
}) {
  const options = (props.connections ?? []).filter((c) => c.application === props.application);
  const chosen = options.find((c) => c.id === props.value);
  return (
    <div class="connection-choice">
      <div class="iclient-row">
        <LabeledField id={props.id} label="Connection" error={props.error} class="grow">
          {(attrs) => (
            <select {...attrs} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
              <option value="">{props.connections ? (options.length ? "Choose a connection…" : "No connections yet: create one") : "Loading…"}</option>
              {options.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                  {c.email ? ` (${c.email})` : ""}
                  {c.status !== "online" ? ` · ${STATUS_TEXT[c.status]}` : ""}
                </option>
              ))}
            </select>
          )}
        </LabeledField>
        <button type="button" class="field-button" onClick={props.onCreate}>
          Create connection
        </button>
      </div>
      {chosen && chosen.status !== "online" && (
        <p class="warning">
          {chosen.name} is {STATUS_TEXT[chosen.status].toLowerCase()}: authorize it on the Connections page before running the flow.
        </p>
      )}
    </div>
  );
}
