// The Settings form <-> config.json object, and placing a save error at the
// field it names. The form holds text for numbers (what the inputs hold) and
// booleans for toggles; an emptied number field removes the key, so the
// engine's default applies.

import type { ApiError, Doctor } from "../types";

export type FieldKind = "int" | "number" | "bool" | "json-array";

export interface FieldDef {
  key: string;
  group: string;
  label: string;
  help: string;
  kind: FieldKind;
  /** The engine's default, shown as the placeholder and used for toggles. */
  def: number | boolean | string[];
  unit?: string;
}

export interface FieldGroup {
  id: string;
  title: string;
  help: string;
}

export const GROUPS: FieldGroup[] = [
  { id: "pm", title: "Health thresholds", help: "How long a silent worker may go before the process manager steps in." },
  { id: "capacity", title: "Capacity", help: "How many workers run at once." },
  { id: "agent", title: "Agent", help: "The program each worker runs." },
  { id: "restart", title: "Restarts", help: "Backoff between attempts and the per-expert circuit breaker." },
  { id: "notifications", title: "Notifications", help: "Which alerts become desktop notifications." },
];

export const FIELDS: FieldDef[] = [
  { key: "pm.startup_budget_secs", group: "pm", label: "Startup budget", help: "Time to first output before a start counts as failed.", kind: "int", def: 120, unit: "s" },
  { key: "pm.late_after_secs", group: "pm", label: "Late after", help: "Silence with no CPU progress before a worker is late.", kind: "int", def: 300, unit: "s" },
  { key: "pm.stalled_after_secs", group: "pm", label: "Stalled after", help: "Silence before a worker is stalled (alert).", kind: "int", def: 600, unit: "s" },
  { key: "pm.zombie_after_secs", group: "pm", label: "Zombie after", help: "Silence before a worker is killed and restarted.", kind: "int", def: 1200, unit: "s" },
  { key: "pm.tick_millis", group: "pm", label: "Tick", help: "The engine's coarse tick.", kind: "int", def: 1000, unit: "ms" },
  { key: "pm.kill_grace_secs", group: "pm", label: "Kill grace", help: "SIGTERM to SIGKILL.", kind: "int", def: 5, unit: "s" },
  { key: "pm.busy_cpu_percent", group: "pm", label: "Busy CPU", help: "CPU use of the process tree (percent of one core over 5 s) that counts as busy, not hung.", kind: "number", def: 5, unit: "%" },
  { key: "pm.nudge_on_stall", group: "pm", label: "Nudge stalled workers", help: "Resume a stalled worker with a message.", kind: "bool", def: false },
  { key: "capacity.max_workers", group: "capacity", label: "Max workers", help: "Workers running at once.", kind: "int", def: 4 },
  { key: "agent.command", group: "agent", label: "Agent command", help: 'The argv prefix, as a JSON array, e.g. ["claude"] or ["/opt/claude/bin/claude"].', kind: "json-array", def: ["claude"] },
  { key: "restart.backoff_base_secs", group: "restart", label: "Backoff base", help: "The first restart after a crash is immediate; later ones wait base × 2^(n-2), after an API error base × 2^(n-1)…", kind: "int", def: 30, unit: "s" },
  { key: "restart.backoff_max_secs", group: "restart", label: "Backoff max", help: "…capped at this.", kind: "int", def: 300, unit: "s" },
  { key: "restart.circuit_failures", group: "restart", label: "Circuit failures", help: "Failures of one expert within the window that pause it.", kind: "int", def: 5 },
  { key: "restart.circuit_window_secs", group: "restart", label: "Circuit window", help: "The window for counting failures.", kind: "int", def: 900, unit: "s" },
  { key: "notifications.stalled", group: "notifications", label: "Stalled", help: "A worker went silent.", kind: "bool", def: true },
  { key: "notifications.zombie", group: "notifications", label: "Zombie", help: "A worker was killed as hung or gone.", kind: "bool", def: true },
  { key: "notifications.timeout", group: "notifications", label: "Timeout", help: "Time-limit warnings and stops.", kind: "bool", def: true },
  { key: "notifications.failed", group: "notifications", label: "Failed", help: "A worker failed for good.", kind: "bool", def: true },
  { key: "notifications.circuit_breaker", group: "notifications", label: "Circuit breaker", help: "An expert was paused after repeated failures.", kind: "bool", def: true },
  { key: "notifications.completed", group: "notifications", label: "Completed", help: "A worker finished successfully.", kind: "bool", def: false },
  { key: "notifications.needs_input", group: "notifications", label: "Needs you", help: "A worker ended waiting for your answer.", kind: "bool", def: true },
  { key: "notifications.usage_limit", group: "notifications", label: "Usage limit", help: "The account's usage limit stopped a worker until it resets.", kind: "bool", def: true },
];

export const FIELD_KEYS = FIELDS.map((f) => f.key);

export type FormValues = Record<string, string | boolean>;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function getPath(obj: unknown, key: string): unknown {
  let cur: unknown = obj;
  for (const part of key.split(".")) {
    if (!isObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

function hasPath(obj: unknown, key: string): boolean {
  const parts = key.split(".");
  const parent = getPath(obj, parts.slice(0, -1).join("."));
  const container = parts.length === 1 ? obj : parent;
  return isObject(container) && Object.prototype.hasOwnProperty.call(container, parts[parts.length - 1]);
}

function setPath(obj: Json, key: string, value: unknown): void {
  const parts = key.split(".");
  let cur = obj;
  for (const part of parts.slice(0, -1)) {
    if (!isObject(cur[part])) cur[part] = {};
    cur = cur[part] as Json;
  }
  cur[parts[parts.length - 1]] = value;
}

function deletePath(obj: Json, key: string): void {
  const parts = key.split(".");
  const parent = parts.length === 1 ? obj : getPath(obj, parts.slice(0, -1).join("."));
  if (isObject(parent)) delete parent[parts[parts.length - 1]];
}

/** The form's values for a config object (missing keys: empty, or the default for toggles). */
export function configToForm(config: Json): FormValues {
  const values: FormValues = {};
  for (const f of FIELDS) {
    const v = getPath(config, f.key);
    switch (f.kind) {
      case "bool":
        values[f.key] = typeof v === "boolean" ? v : (f.def as boolean);
        break;
      case "json-array":
        values[f.key] = Array.isArray(v) ? JSON.stringify(v) : "";
        break;
      default:
        values[f.key] = typeof v === "number" ? String(v) : "";
    }
  }
  return values;
}

export interface FormResult {
  config: Json;
  /** Field key -> what is wrong; empty when the form is valid. */
  errors: Record<string, string>;
}

/**
 * The config to save: a copy of `base` (so keys the form does not show are
 * kept) with the form's values applied. Checks the types only; the engine
 * checks the rest and answers with the key of any problem.
 */
export function formToConfig(values: FormValues, base: Json): FormResult {
  const config = JSON.parse(JSON.stringify(base ?? {})) as Json;
  const errors: Record<string, string> = {};
  for (const f of FIELDS) {
    const raw = values[f.key];
    if (f.kind === "bool") {
      const b = raw === true || raw === "true";
      if (!hasPath(base, f.key) && b === f.def) continue;
      setPath(config, f.key, b);
      continue;
    }
    const text = typeof raw === "string" ? raw.trim() : raw == null ? "" : String(raw);
    if (text === "") {
      deletePath(config, f.key);
      continue;
    }
    if (f.kind === "int") {
      if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
        errors[f.key] = "expected a whole number (0 or more)";
        continue;
      }
      setPath(config, f.key, Number(text));
    } else if (f.kind === "number") {
      const n = Number(text);
      if (!Number.isFinite(n) || n < 0) {
        errors[f.key] = "expected a number (0 or more)";
        continue;
      }
      setPath(config, f.key, n);
    } else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        errors[f.key] = 'not valid JSON: expected an array of strings such as ["claude"]';
        continue;
      }
      if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((s) => typeof s === "string" && s.length > 0)) {
        errors[f.key] = 'expected a non-empty JSON array of strings such as ["claude"]';
        continue;
      }
      setPath(config, f.key, parsed);
    }
  }
  return { config, errors };
}

/** "`pm.stalled_after_secs`", "agent.command[0]", "agent.command.0" -> the plain dotted key. */
export function normalizeKey(key: string): string {
  return key
    .trim()
    .replace(/`/g, "")
    .replace(/\[\d+\]/g, "")
    .split(".")
    .filter((p) => p !== "" && !/^\d+$/.test(p))
    .join(".");
}

export interface PlacedError {
  /** Field key -> message, for errors that name a field on the form. */
  fields: Record<string, string>;
  /** Shown above the form when the error names no field of it. */
  general: string | null;
}

/** Strips the "config.json: key `x`: " prefix the engine puts on messages. */
function bareMessage(message: string): string {
  return message.replace(/^[^:\s]+\.json:\s*/, "").replace(/^key `[^`]*`:\s*/, "");
}

/**
 * Places a save error at its field: the error's key, or the longest field
 * key it falls under (an error about `agent.command[1]` belongs to
 * `agent.command`). Anything else is a general error naming file and key.
 */
export function placeError(err: ApiError, keys: string[] = FIELD_KEYS): PlacedError {
  let key = err.key ? normalizeKey(err.key) : null;
  if (!key) {
    const m = /key `([^`]+)`/.exec(err.message ?? "");
    if (m) key = normalizeKey(m[1]);
  }
  const message = bareMessage(err.message ?? "") || "invalid value";
  if (key) {
    const exact = keys.find((k) => k === key);
    const under = exact ?? keys.filter((k) => key!.startsWith(`${k}.`)).sort((a, b) => b.length - a.length)[0];
    if (under && (!err.file || err.file === "config.json")) return { fields: { [under]: message }, general: null };
  }
  const where = [err.file, key].filter(Boolean).join(": ");
  return { fields: {}, general: where ? `${where}: ${message}` : message };
}

/** Whether the engine holds low-confidence tasks for a person's confirmation (its default: yes). */
/**
 * The new-task form's worktree box: with `isolation: "worktree"` every task
 * gets its own worktree, so the box shows that, ticked and locked, instead
 * of an unticked box that would say the task runs in place.
 */
export function worktreeBox(chosen: boolean, config: Record<string, unknown> | null | undefined): { checked: boolean; locked: boolean; title: string } {
  if (config?.isolation === "worktree") {
    return { checked: true, locked: true, title: 'Every task gets its own worktree: isolation is "worktree" in config.json' };
  }
  return { checked: chosen, locked: false, title: "Run in <home>/worktrees/<task> on branch cortex/<task>" };
}

export function asksConfirmation(config: Record<string, unknown> | null | undefined): boolean {
  const routing = config?.routing as Record<string, unknown> | undefined;
  return routing?.confirm_low_confidence !== false;
}

/**
 * The doctor's "Workers run" row: where workers run and, for a cluster,
 * whether it answered when the doctor asked. An unknown answer is said to
 * be unknown, never taken for a good one.
 */
export function launcherRow(d: Pick<Doctor, "launcher" | "launcher_check">): { value: string; cls: string } {
  const kind = d.launcher ?? "unknown";
  if (kind === "local") return { value: "on this machine", cls: "" };
  if (!d.launcher_check) return { value: `${kind} (not checked)`, cls: "text-amber-700" };
  return d.launcher_check.reachable
    ? { value: `${kind}: the cluster answers (${d.launcher_check.detail})`, cls: "" }
    : { value: `${kind}: CANNOT RUN WORKERS (${d.launcher_check.detail})`, cls: "text-red-700 font-medium" };
}
