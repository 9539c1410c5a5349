/**
 * A flow run as it happens: polls `GET /v1/runs/:id` until the run ends and
 * shows its status, a labelled progress bar, the counts as text
 * ("12 exported, 12 imported, 0 failed"), the errors, and **Cancel run**; once a run of a flow
 * with an archive destination has written its archive, **Download archive**.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Run } from "./api.ts";
import { RUN_STATUS_TEXT, RUN_TRIGGER_TEXT, isActive, progressText } from "./flow-draft.ts";

/** How often a running run is read again. */
export const POLL_MS = 800;

export function RunPanel(props: { runId: string; onChange?: (run: Run) => void; archive?: boolean }) {
  const [run, setRun] = useState<Run>();
  const [archiveSize, setArchiveSize] = useState<number>();
  const [error, setError] = useState<string>();
  const [canceling, setCanceling] = useState(false);
  const onChange = useRef(props.onChange);
  onChange.current = props.onChange;

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const r = await api.run(props.runId);
        if (stopped) return;
        setRun(r);
        setError(undefined);
        onChange.current?.(r);
        if (!isActive(r)) return;
      } catch (err) {
        if (stopped) return;
        setError(`Could not read the run: ${(err as Error).message}`);
      }
      timer = setTimeout(poll, POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [props.runId]);

  // The run's archive, once complete: HEAD answers 200 with its size (404 none, 409 still written or failed).
  const ended = run !== undefined && !isActive(run);
  useEffect(() => {
    if (!props.archive || !ended) return;
    let live = true;
    fetch(api.runArchiveUrl(props.runId), { method: "HEAD", credentials: "same-origin" }).then(
      (res) => live && res.ok && setArchiveSize(Number(res.headers.get("content-length") ?? 0)),
      () => {},
    );
    return () => {
      live = false;
    };
  }, [props.archive, ended, props.runId]);

  async function cancel() {
    setCanceling(true);
    try {
      await api.cancelRun(props.runId);
    } catch (err) {
      setError(`Could not cancel the run: ${(err as Error).message}`);
    } finally {
      setCanceling(false);
    }
  }

  const p = run?.progress ?? { exported: 0, imported: 0, failed: 0 };
  // A run paused by the iClient's daily units is queued with the pause leading its errors.
  const paused = run?.status === "queued" && run.errors?.[0]?.code === "daily_quota_reached" && run.errors[0].resumeAt ? run.errors[0] : undefined;
  const active = !run || isActive(run);
  // While exporting, the total is not known yet: the bar is indeterminate until something is exported.
  const max = Math.max(p.exported, 1);
  const value = active ? (p.exported ? Math.min(p.imported + p.failed, p.exported) : undefined) : max;

  return (
    <section class="run-panel" aria-labelledby="run-title">
      <header class="step-head">
        <h2 id="run-title">Run</h2>
        {run && <span class={`badge run-${run.status}`}>{RUN_STATUS_TEXT[run.status]}</span>}
        {run?.trigger && <span class="muted">Started by: {RUN_TRIGGER_TEXT[run.trigger]}</span>}
        {active && run && (
          <button type="button" onClick={cancel} disabled={canceling}>
            Cancel run
          </button>
        )}
      </header>
      <div class="field">
        <label for="run-progress">Progress</label>
        <progress id="run-progress" max={max} value={value} aria-describedby="run-counts" />
        <p id="run-counts" role="status">
          {run ? `${RUN_STATUS_TEXT[run.status]}: ${progressText(run)}.` : "Starting…"}
        </p>
      </div>
      {paused && (
        <p class="warning" role="status">
          Waiting on Google's quota: this iClient spent its Gmail units of today. The run resumes on its own at{" "}
          {new Date(paused.resumeAt!).toLocaleString()}.
        </p>
      )}
      {run && (run.startedAt || run.finishedAt) && (
        <p class="hint">
          {run.startedAt && <>Started {new Date(run.startedAt).toLocaleString()}. </>}
          {run.finishedAt && <>Finished {new Date(run.finishedAt).toLocaleString()}.</>}
        </p>
      )}
      {archiveSize !== undefined && (
        <p>
          <a class="button" href={api.runArchiveUrl(props.runId)} download>
            Download archive
          </a>{" "}
          <span class="hint">mbox, {archiveSize < 1024 * 1024 ? `${Math.max(1, Math.round(archiveSize / 1024))} KB` : `${(archiveSize / 1024 / 1024).toFixed(1)} MB`}</span>
        </p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {run && run.errors?.length > 0 && (
        <div class="run-errors">
          <h3 id="run-errors-title">Errors ({run.errors.length})</h3>
          <ul aria-labelledby="run-errors-title">
            {run.errors.map((e, i) => (
              <li key={i}>
                <code>{e.code}</code> {e.message}
                {(e.record != null || e.destination != null) && (
                  <span class="hint">
                    {" "}
                    ({[e.record != null && `message ${e.record}`, e.destination != null && `destination ${typeof e.destination === "number" ? e.destination + 1 : e.destination}`].filter(Boolean).join(", ")})
                  </span>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
