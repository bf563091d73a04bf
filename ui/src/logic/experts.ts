// The expert editor: one profile (experts/<name>.json) <-> the form's
// text fields, and a refusal from the engine placed at the field its key
// names. The rules themselves are the engine's (`check_expert`, the same
// as `cortex config check`): nothing is re-implemented here.

import type { ApiError } from "../types";

export type ExpertProfile = Record<string, unknown> & { name: string };

export type ExpertFieldKind = "words" | "int" | "number" | "text" | "longtext";

export interface ExpertField {
  key: string;
  label: string;
  help: string;
  kind: ExpertFieldKind;
  /** An empty field removes the key (the engine's default or "none" applies). */
  optional: boolean;
}

export const EXPERT_FIELDS: ExpertField[] = [
  { key: "description", label: "Description", help: "What this expert is for.", kind: "text", optional: true },
  { key: "activation_keywords", label: "Keywords", help: "One per line or comma-separated; +25 each when a task mentions it.", kind: "words", optional: false },
  { key: "boosters", label: "Boosters", help: "Supporting words, +12 each.", kind: "words", optional: true },
  { key: "negatives", label: "Negatives", help: "Words that argue against this expert, -30 each.", kind: "words", optional: true },
  { key: "task_types", label: "Task types", help: "Explicit types that go straight to this expert (each type in one expert).", kind: "words", optional: false },
  { key: "model", label: "Model", help: "The agent's --model for this expert; empty for the agent's default.", kind: "text", optional: true },
  { key: "max_workers", label: "Max workers", help: "Workers of this expert at once.", kind: "int", optional: true },
  { key: "time_limit_secs", label: "Time limit (s)", help: "Per worker, before warnings and a stop.", kind: "int", optional: true },
  { key: "max_restarts", label: "Max restarts", help: "Automatic restarts after a crash or a hang.", kind: "int", optional: true },
  { key: "max_extensions", label: "Max extensions", help: "Times the limit may be extended for a worker making progress.", kind: "int", optional: true },
  { key: "extension_secs", label: "Extension (s)", help: "Length of one extension.", kind: "int", optional: true },
  { key: "token_budget", label: "Token budget", help: "Stop at this many tokens; empty for none.", kind: "int", optional: true },
  { key: "cost_budget_usd", label: "Cost budget ($)", help: "Stop at this cost; empty for none.", kind: "number", optional: true },
  { key: "verify", label: "Verify command", help: "Run by sh -c in the workdir after a success; empty for none.", kind: "text", optional: true },
  { key: "preamble", label: "Preamble", help: "Appended to the agent's system prompt.", kind: "longtext", optional: false },
];

export type ExpertForm = Record<string, string>;

export function formOfProfile(p: ExpertProfile): ExpertForm {
  const form: ExpertForm = {};
  for (const f of EXPERT_FIELDS) {
    const v = p[f.key];
    if (v == null) form[f.key] = "";
    else if (f.kind === "words") form[f.key] = Array.isArray(v) ? v.join("\n") : String(v);
    else form[f.key] = String(v);
  }
  return form;
}

/** Words typed one per line or separated by commas, trimmed, empties dropped. */
export function parseWords(text: string): string[] {
  return text.split(/[\n,]/).map((w) => w.trim()).filter(Boolean);
}

export interface ProfileOrErrors {
  profile: ExpertProfile | null;
  /** Field key -> what is wrong with what was typed (not the engine's rules). */
  errors: Record<string, string>;
}

/**
 * The profile to send: `original` with the form's fields over it (keys the
 * form does not show are kept as they were). A number that does not parse
 * is an error at its field; ranges are the engine's to check.
 */
export function profileOfForm(original: ExpertProfile, form: ExpertForm): ProfileOrErrors {
  const profile: ExpertProfile = { ...original };
  const errors: Record<string, string> = {};
  for (const f of EXPERT_FIELDS) {
    const raw = (form[f.key] ?? "").trim();
    if (f.kind === "words") {
      profile[f.key] = parseWords(form[f.key] ?? "");
      continue;
    }
    if (raw === "") {
      if (f.optional) delete profile[f.key];
      else profile[f.key] = "";
      continue;
    }
    if (f.kind === "int") {
      if (!/^\d+$/.test(raw)) errors[f.key] = "expected a whole number";
      else profile[f.key] = Number(raw);
    } else if (f.kind === "number") {
      const n = Number(raw);
      if (!Number.isFinite(n)) errors[f.key] = "expected a number";
      else profile[f.key] = n;
    } else {
      profile[f.key] = f.kind === "longtext" ? (form[f.key] ?? "") : raw;
    }
  }
  return { profile: Object.keys(errors).length ? null : profile, errors };
}

/** The form field an engine error's key names (`boosters[1]` -> `boosters`), or "" for the whole file. */
export function fieldOfErrorKey(key: string | undefined | null): string {
  if (!key) return "";
  const base = key.replace(/\[\d+\]$/, "");
  return EXPERT_FIELDS.some((f) => f.key === base) ? base : "";
}

/** An engine refusal as field errors, every problem it names at its field
 * (a key the form lacks goes under ""; two at one field are joined). */
export function errorsOfRefusal(e: ApiError): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (key: string | undefined, message: string) => {
    const field = fieldOfErrorKey(key);
    const text = `${message}${key && !field ? ` (${key})` : ""}`;
    out[field] = out[field] ? `${out[field]}; ${text}` : text;
  };
  add(e.key, e.message);
  for (const p of e.problems ?? []) add(p.key, p.message);
  return out;
}
