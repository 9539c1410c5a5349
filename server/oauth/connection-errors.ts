import type { OfflineReason } from "../../core/offline-reason.ts";

/** Work asked of a connection that cannot do any: offline (with its reason) or never authorized. Not retried. */
export class ConnectionUnavailableError extends Error {
  readonly code: string;
  constructor(readonly status: "offline" | "unauthorized", readonly reason: OfflineReason | null) {
    super(
      status === "offline"
        ? (reason?.message ?? "The connection is offline.")
        : "The connection is not authorized yet. Use Save & authorize first.",
    );
    this.name = "ConnectionUnavailableError";
    this.code = status === "offline" ? (reason?.code ?? "connection_offline") : "not_authorized";
  }
}
