/**
 * **Choose an application**: the one application list behind Create connection,
 * Add source and Add destination/lookup (SPEC §4).
 */
import type { Application } from "./api.ts";
import { Dialog } from "./dialog.tsx";

export function ApplicationList(props: {
  applications: Application[];
  onChoose: (application: Application) => void;
  onClose: () => void;
  /** A line above the list, e.g. what the choice is for. */
  intro?: string;
}) {
  return (
    <Dialog title="Choose an application" onClose={props.onClose}>
      <div class="dialog-body">
        {props.intro && <p class="hint app-intro">{props.intro}</p>}
        {props.applications.length === 0 && <p class="muted">No application can do this yet.</p>}
        <ul class="app-list">
          {props.applications.map((a) => (
            <li key={a.id}>
              <button type="button" class="app-choice" onClick={() => props.onChoose(a)}>
                <span class="app-icon" aria-hidden="true">
                  {a.name.slice(0, 1)}
                </span>
                {a.name}
              </button>
            </li>
          ))}
        </ul>
      </div>
    </Dialog>
  );
}
