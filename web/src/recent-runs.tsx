/** A flow's recent runs, newest first; **Show** puts one in the run panel. */
import type { Run } from "./api.ts";
import { RUN_STATUS_TEXT, RUN_TRIGGER_TEXT, progressText } from "./flow-draft.ts";

const SHOWN = 5;

export function RecentRuns(props: { runs: Run[]; current?: string; onShow: (runId: string) => void }) {
  return (
    <section class="recent-runs" aria-labelledby="recent-runs-title">
      <h2 id="recent-runs-title">Recent runs</h2>
      <ul>
        {props.runs.slice(0, SHOWN).map((r) => (
          <li key={r.id}>
            <RunStatus run={r} />
            {r.trigger && <span class="muted">{RUN_TRIGGER_TEXT[r.trigger]}</span>}
            <span class="muted">{r.startedAt ? new Date(r.startedAt).toLocaleString() : "Not started"}</span>
            {r.id === props.current ? (
              <span class="hint">(shown above)</span>
            ) : (
              <button type="button" class="link" onClick={() => props.onShow(r.id)}>
                Show
              </button>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** A run's status badge and counts, as in the flows list. */
export function RunStatus({ run }: { run: Run }) {
  return (
    <span class="run-status">
      <span class={`badge run-${run.status}`}>{RUN_STATUS_TEXT[run.status]}</span> <span class="hint">{progressText(run)}</span>
    </span>
  );
}
