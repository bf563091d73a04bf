// A failed command rejects with an ApiError {code, message, file?, key?};
// anything else that arrives (a plain string from Tauri, an Error) is turned
// into one.

import type { ApiError } from "../types";

export function toApiError(e: unknown): ApiError {
  if (typeof e === "string") {
    try {
      const parsed = JSON.parse(e) as unknown;
      if (parsed && typeof parsed === "object" && "message" in parsed) return toApiError(parsed);
    } catch {
      /* a plain message */
    }
    return { code: "error", message: e };
  }
  if (e && typeof e === "object") {
    const o = e as Record<string, unknown>;
    if (typeof o.message === "string") {
      const out: ApiError = { code: typeof o.code === "string" ? o.code : e instanceof Error ? e.name : "error", message: o.message };
      if (typeof o.file === "string") out.file = o.file;
      if (typeof o.key === "string") out.key = o.key;
      // Every problem of a refused file, each at its key (an editor shows them all).
      if (Array.isArray(o.problems)) {
        out.problems = o.problems
          .filter((p): p is Record<string, unknown> => !!p && typeof p === "object" && typeof (p as Record<string, unknown>).message === "string")
          .map((p) => (typeof p.key === "string" ? { key: p.key, message: p.message as string } : { message: p.message as string }));
      }
      return out;
    }
  }
  return { code: "error", message: String(e) };
}

/** One line for a toast: "kill_worker: no such worker (unknown_worker)". */
export function describeError(what: string, e: unknown): string {
  const err = toApiError(e);
  const code = err.code && err.code !== "error" ? ` (${err.code})` : "";
  return `${what}: ${err.message}${code}`;
}
