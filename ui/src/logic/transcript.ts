// A worker's transcript, grouped by attempt, each entry styled by its kind.
// Text is untrusted: it is only ever bound with x-text.

import type { TranscriptEntry } from "../types";

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
