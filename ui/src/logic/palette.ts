// The command palette (Ctrl/Cmd-K): tasks, workers and actions, matched by
// the words typed. Pure: items and the query in, ranked items out.

export type PaletteKind = "task" | "worker" | "action" | "page";

export interface PaletteItem {
  kind: PaletteKind;
  /** What choosing it opens or does (a task id, a worker id, an action key). */
  id: string;
  title: string;
  /** Shown under the title and matched too (status, expert, id). */
  detail: string;
}

/**
 * How well `query` matches `text`: every query character in order. Whole
 * words and a match at the start count more; -1 when it does not match.
 */
export function fuzzyScore(query: string, text: string): number {
  const q = query.toLowerCase();
  const t = text.toLowerCase();
  if (!q) return 0;
  const at = t.indexOf(q);
  if (at >= 0) return 1000 - at + (at === 0 || /\W/.test(t[at - 1]) ? 200 : 0);
  let score = 0;
  let ti = 0;
  let run = 0;
  for (const ch of q) {
    const found = t.indexOf(ch, ti);
    if (found < 0) return -1;
    run = found === ti ? run + 1 : 0;
    score += 10 + run * 5 - Math.min(found - ti, 10);
    ti = found + 1;
  }
  return score;
}

/** Items matching every word of the query, best first (kind order breaks ties); at most `limit`. */
export function filterPalette(items: PaletteItem[], query: string, limit = 50): PaletteItem[] {
  return searchPalette(items, query, limit).items;
}

/**
 * What the palette lists for a query, at most `limit`, and how many more
 * match (said under the list, so nothing is hidden silently). With no
 * query, the actions and pages, then tasks and workers in equal shares.
 */
export function searchPalette(items: PaletteItem[], query: string, limit = 50): { items: PaletteItem[]; more: number } {
  const words = query.trim().split(/\s+/).filter(Boolean);
  const order: Record<PaletteKind, number> = { action: 0, page: 1, task: 2, worker: 3 };
  if (!words.length) {
    const fixed = items.filter((i) => i.kind === "action" || i.kind === "page").slice(0, limit);
    const share = Math.max(0, Math.ceil((limit - fixed.length) / 2));
    const tasks = items.filter((i) => i.kind === "task");
    const workers = items.filter((i) => i.kind === "worker");
    const nw = Math.min(workers.length, Math.max(share, limit - fixed.length - tasks.length));
    const nt = Math.min(tasks.length, limit - fixed.length - nw);
    const shown = [...fixed, ...tasks.slice(0, nt), ...workers.slice(0, nw)];
    return { items: shown, more: items.length - shown.length };
  }
  const scored: { item: PaletteItem; score: number; i: number }[] = [];
  items.forEach((item, i) => {
    let total = 0;
    for (const w of words) {
      const s = Math.max(fuzzyScore(w, item.title), fuzzyScore(w, item.detail) - 100);
      if (s < 0) return;
      total += s;
    }
    scored.push({ item, score: total, i });
  });
  scored.sort((a, b) => b.score - a.score || order[a.item.kind] - order[b.item.kind] || a.i - b.i);
  return { items: scored.slice(0, limit).map((s) => s.item), more: Math.max(0, scored.length - limit) };
}
