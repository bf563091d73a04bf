// The board: Queued / Running / Needs you / Done, grouped by project and
// filtered by words, expert and project. A card opens its task's detail.

import { buildBoard, EMPTY_FILTER, filterChoices, type BoardColumn, type BoardFilter } from "../../logic/board";
import { taskStatusBadge } from "../../logic/badges";
import { formatRelative, truncate } from "../../logic/format";
import type { Task } from "../../types";
import type { Kit } from "./kit";

const COLUMN_TONE: Record<string, string> = {
  queued: "border-t-slate-400",
  running: "border-t-emerald-500",
  needs_you: "border-t-amber-500",
  done: "border-t-slate-300",
};

export function registerBoard(k: Kit): void {
  const { Alpine, s, c, raw } = k;
  // The filter outlives the page.
  const ui = Alpine.reactive({ filter: { ...EMPTY_FILTER } as BoardFilter });
  Alpine.data("boardView", () => {
    const fx = k.scope();
    const onBoard = k.shown("board");
    const columns = fx.derive<BoardColumn[]>([], () => buildBoard(raw(s.tasks), { ...ui.filter }), onBoard);
    const choices = fx.derive({ experts: [] as string[], projects: [] as { path: string; name: string }[] }, () => filterChoices(raw(s.tasks)), onBoard);
    return {
      filter: ui.filter,
      destroy() {
        fx.stop();
      },
      get columns() {
        return columns.value;
      },
      get experts() {
        return choices.value.experts;
      },
      get projects() {
        return choices.value.projects;
      },
      get filtered() {
        return !!(ui.filter.text || ui.filter.expert || ui.filter.project);
      },
      clearFilter() {
        Object.assign(ui.filter, EMPTY_FILTER);
      },
      columnCls(key: string) {
        return COLUMN_TONE[key] ?? "border-t-slate-300";
      },
      countLabel(col: BoardColumn) {
        return col.shown < col.count ? `${col.shown} of ${col.count}` : String(col.count);
      },
      cardText(t: Task) {
        return truncate(t.description, 120);
      },
      cardBadge(t: Task) {
        return taskStatusBadge(t.status);
      },
      cardMeta(t: Task) {
        const experts = t.experts?.length ? t.experts.join(", ") : (t.expert ?? "not routed");
        return `${experts} · ${formatRelative(t.created_at, s.tableNowMs)}`;
      },
      openTask(id: string) {
        c.openTask(id);
      },
    };
  });
}
