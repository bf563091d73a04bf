// A worker's transcript, grouped by attempt, each entry styled by its kind.
// Text is untrusted: it is only ever bound with x-text.

import type { TranscriptEntry, Worker } from "../types";
import { isTerminalState } from "./badges";
import { stateAndReason } from "./format";

export interface EntryStyle {
  label: string;
  /** Classes of the entry's box. */
  cls: string;
  /** Classes of its label. */
  labelCls: string;
  mono: boolean;
}

const STYLES: Record<TranscriptEntry["kind"], EntryStyle> = {
  session: { label: "session", cls: "border-slate-200 bg-slate-50 text-slate-500", labelCls: "text-slate-500", mono: true },
  assistant: { label: "assistant", cls: "border-indigo-200 bg-white text-slate-800", labelCls: "text-indigo-600", mono: false },
  tool_call: { label: "tool call", cls: "border-sky-200 bg-sky-50 text-sky-950", labelCls: "text-sky-700", mono: true },
  tool_result: { label: "tool result", cls: "border-slate-200 bg-slate-50 text-slate-700", labelCls: "text-slate-500", mono: true },
  tool_error: { label: "tool error", cls: "border-red-200 bg-red-50 text-red-900", labelCls: "text-red-700", mono: true },
  api_retry: { label: "API retry", cls: "border-amber-200 bg-amber-50 text-amber-900", labelCls: "text-amber-700", mono: true },
  result: { label: "result", cls: "border-emerald-300 bg-emerald-50 text-emerald-950", labelCls: "text-emerald-700", mono: false },
  check_in: { label: "check-in", cls: "border-violet-200 bg-violet-50 text-violet-900", labelCls: "text-violet-700", mono: true },
  other: { label: "other", cls: "border-slate-200 bg-white text-slate-600", labelCls: "text-slate-400", mono: true },
  // Not output: how much of an attempt's output the transcript left out.
  left_out: { label: "left out", cls: "border-dashed border-slate-300 bg-slate-50 text-slate-500", labelCls: "text-slate-500", mono: false },
};

export function entryStyle(kind: string): EntryStyle {
  return STYLES[kind as TranscriptEntry["kind"]] ?? STYLES.other;
}

/** Entries longer than this are cut, with the rest counted. */
export const MAX_ENTRY_CHARS = 6_000;

export interface EntryView {
  key: string;
  kind: string;
  style: EntryStyle;
  text: string;
  cut: number;
}

export interface AttemptGroup {
  attempt: number;
  title: string;
  entries: EntryView[];
}

export function transcriptView(entries: TranscriptEntry[], maxChars = MAX_ENTRY_CHARS): AttemptGroup[] {
  const groups: AttemptGroup[] = [];
  entries.forEach((e, i) => {
    let g = groups[groups.length - 1];
    if (!g || g.attempt !== e.attempt) {
      g = { attempt: e.attempt, title: `Attempt ${e.attempt}`, entries: [] };
      groups.push(g);
    }
    const text = e.text ?? "";
    const cut = Math.max(0, text.length - maxChars);
    g.entries.push({
      key: `${e.attempt}|${i}`,
      kind: e.kind,
      style: entryStyle(e.kind),
      text: cut > 0 ? text.slice(0, maxChars) : text,
      cut,
    });
  });
  return groups;
}

/** One line of the compact transcript: a tool call folds in its result. */
export interface CompactLine {
  key: string;
  attempt: number;
  kind: string;
  style: EntryStyle;
  /** The first line, shortened: what the collapsed line shows. */
  summary: string;
  /** The whole text (cut at the entry limit); shown when expanded. */
  text: string;
  /** The tool's result or error folded into this call, if one followed. */
  result: { kind: string; summary: string; text: string; isError: boolean } | null;
  /** True when the query matches this line or its result. */
  match: boolean;
}

const firstLine = (t: string, max = 160) => {
  const line = t.split("\n", 1)[0].trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
};

/**
 * The transcript as compact lines: each tool call with the result that
 * follows it, everything else one line each; `query` (case-insensitive)
 * marks the lines that contain it.
 */
export function compactTranscript(entries: TranscriptEntry[], query = "", maxChars = MAX_ENTRY_CHARS): CompactLine[] {
  const q = query.trim().toLowerCase();
  const has = (t: string) => q !== "" && t.toLowerCase().includes(q);
  const out: CompactLine[] = [];
  entries.forEach((e, i) => {
    const full = e.text ?? "";
    const text = full.slice(0, maxChars);
    const prev = out[out.length - 1];
    const isResult = e.kind === "tool_result" || e.kind === "tool_error";
    if (isResult && prev && prev.kind === "tool_call" && !prev.result && prev.attempt === e.attempt) {
      prev.result = { kind: e.kind, summary: firstLine(full), text, isError: e.kind === "tool_error" };
      prev.match ||= has(full);
      return;
    }
    out.push({
      key: `${e.attempt}|${i}`,
      attempt: e.attempt,
      kind: e.kind,
      style: entryStyle(e.kind),
      summary: firstLine(full),
      text,
      result: null,
      match: has(full),
    });
  });
  return out;
}

/**
 * What the search box says: how many lines match, and which one is shown
 * once a person steps through them (`at`, -1 before the first step).
 */
export function matchLabel(query: string, matches: number, at: number): string {
  if (!query.trim()) return "";
  if (matches === 0) return "no match";
  if (at < 0) return matches === 1 ? "1 match" : `${matches} matches`;
  return `${at + 1} of ${matches}`;
}

/** The keys of the lines that match, in order, for "next match" navigation. */
export function matchKeys(lines: CompactLine[]): string[] {
  return lines.filter((l) => l.match).map((l) => l.key);
}

/** What an empty transcript says: an ended worker that printed nothing says
 * why it ended (an agent that never started), a live one that it has not
 * printed yet. Until it was read (`read`), nothing is said of its output. */
export function emptyTranscript(w: Worker | null, loading: boolean, read = true): string {
  if (loading) return "Loading the transcript…";
  if (!read) return "";
  if (w && isTerminalState(w.state)) return `No output: ${stateAndReason(w.reason, w.state)}`;
  return "No output yet.";
}
