// The routing preview's view model: experts sorted by score, each with a bar
// and the terms that matched (negatives come prefixed with "-").

import type { Decision } from "../types";
import { formatConfidence, methodLabel, strategyLabel } from "./format";

export interface MatchedTerm {
  term: string;
  negative: boolean;
}

export interface PreviewRow {
  expert: string;
  /** Final confidence 0..1. */
  score: number;
  /** Bar width, 0..100. */
  pct: number;
  scoreLabel: string;
  keywordLabel: string;
  learnedLabel: string | null;
  matched: MatchedTerm[];
  isPrimary: boolean;
  isParallel: boolean;
  barCls: string;
}

export interface PreviewView {
  primary: string;
  confidence: number;
  confidenceLabel: string;
  strategyLabel: string;
  methodLabel: string;
  needsConfirmation: boolean;
  explanation: string;
  parallel: string[];
  rows: PreviewRow[];
}

const clamp01 = (v: number) => (Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0);

/**
 * `asksConfirmation`: the engine holds a low-confidence task for a person
 * (routing.confirm_low_confidence); when it does not, the preview does not
 * say the task would wait.
 */
export function previewView(d: Decision, experts: string[] = [], asksConfirmation = true): PreviewView {
  const names = new Set<string>([
    ...experts,
    ...Object.keys(d.scores ?? {}),
    ...Object.keys(d.keyword_scores ?? {}),
    ...Object.keys(d.matched ?? {}),
  ]);
  if (d.primary_expert) names.add(d.primary_expert);
  const parallel = d.parallel_experts ?? [];
  const rows: PreviewRow[] = [...names].map((expert) => {
    const score = clamp01(d.scores?.[expert] ?? 0);
    const learned = d.learned_scores?.[expert];
    const isPrimary = expert === d.primary_expert;
    const isParallel = !isPrimary && parallel.includes(expert);
    return {
      expert,
      score,
      pct: Math.round(score * 100),
      scoreLabel: formatConfidence(score),
      keywordLabel: formatConfidence(clamp01(d.keyword_scores?.[expert] ?? 0)),
      learnedLabel: learned == null ? null : formatConfidence(clamp01(learned)),
      matched: (d.matched?.[expert] ?? []).map((t) =>
        t.startsWith("-") ? { term: t.slice(1), negative: true } : { term: t, negative: false },
      ),
      isPrimary,
      isParallel,
      barCls: isPrimary ? "bg-indigo-500" : isParallel ? "bg-indigo-300" : "bg-slate-300",
    };
  });
  rows.sort((a, b) => b.score - a.score || Number(b.isPrimary) - Number(a.isPrimary) || a.expert.localeCompare(b.expert));
  return {
    primary: d.primary_expert,
    confidence: clamp01(d.confidence),
    confidenceLabel: formatConfidence(clamp01(d.confidence)),
    strategyLabel: strategyLabel(d.strategy),
    methodLabel: methodLabel(d.method),
    needsConfirmation: !!d.needs_confirmation && asksConfirmation,
    explanation: d.explanation ?? "",
    parallel,
    rows,
  };
}

/** Whether a draft is worth previewing (the engine refuses empty text). */
export function previewable(text: string): boolean {
  return text.trim().length > 0;
}
