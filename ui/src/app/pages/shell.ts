// The shell: navigation, header (freshness, pause), the alert banner,
// modals and toasts, and the worker and task actions rows and pages call.

import { bannerView, type BannerItem } from "../../logic/alerts";
import { formatRelative, shortId } from "../../logic/format";
import { freshness } from "../../logic/freshness";
import { menuPlacement, workerActions, type WorkerActions } from "../../logic/workers";
import { NAV, type ViewId } from "../state";
import type { Kit } from "./kit";

const TITLES: Record<ViewId, string> = {
  overview: "Overview",
  workers: "Workers",
  worker: "Worker",
  tasks: "Tasks",
  task: "Task",
  board: "Board",
  usage: "Usage",
  plans: "Plans",
  routing: "Routing",
  activity: "Activity",
  settings: "Settings",
};

const NO_ACTIONS: WorkerActions = { kill: false, restart: false, extend: false, nudge: false, takeOver: false, reply: false };

export function registerShell(k: Kit): void {
  const { Alpine, s, c, raw, global } = k;
  const fresh = global(
    { label: "", stale: true },
    () => {
      const f = freshness(s.lastUpdateMs, s.nowMs);
      return { label: f.label, stale: f.stale };
    },
    { patch: true },
  );
  const banner = global(
    bannerView([], new Set()),
    () => bannerView(raw(s.alerts), new Set(raw(s.dismissed)), k.workerById(), 3, k.taskById()),
    { patch: true },
  );
  const paused = global(false, () => !!s.status?.paused);
  const agentProblem = global("", () => s.status?.agent_problem ?? "");
  const settingsRefused = global("", () => s.status?.settings_refused ?? "");
  const pausedExperts = global("", () =>
    (s.status?.paused_experts ?? [])
      .map((p) => `${p.expert} until ${new Date(p.until).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`)
      .join(", "),
  );

  Alpine.data("shell", () => ({
    nav: NAV,
    get mode() {
      return s.mode;
    },
    /** The dashboard proper: not outside the app, and the home is open. */
    get supervising() {
      return s.mode === "loading" || s.mode === "ready";
    },
    get unavailable() {
      return s.unavailable;
    },
    get loadError() {
      return s.loadError;
    },
    get view() {
      return s.view;
    },
    get title() {
      if (s.view === "task" && s.selectedTaskId) return `Task ${shortId(s.selectedTaskId)}`;
    return s.view === "worker" && s.selectedWorkerId ? `Worker ${shortId(s.selectedWorkerId)}` : TITLES[s.view];
    },
    isView(id: string) {
      return s.view === id;
    },
    navClass(id: string) {
      const active = s.view === id || (id === "workers" && s.view === "worker") || (id === "board" && s.view === "task");
      return active ? "bg-slate-800 text-white" : "text-slate-300 hover:bg-slate-800/60 hover:text-white";
    },
    go(id: ViewId) {
      c.navigate(id);
    },
    navCount(id: string) {
      if (id === "workers") return k.counts.value.live || "";
      if (id === "tasks") return k.counts.value.liveTasks || "";
      return "";
    },

    // Freshness
    get fresh() {
      return fresh.value;
    },
    get freshClass() {
      return this.fresh.stale ? "bg-amber-100 text-amber-800 ring-amber-600/30" : "bg-emerald-50 text-emerald-700 ring-emerald-600/20";
    },
    get freshDot() {
      return this.fresh.stale ? "bg-amber-500" : "bg-emerald-500";
    },

    // Pause / resume
    get paused() {
      return paused.value;
    },
    /** Why the agent cannot run ("" when it can): every task would fail to start. */
    get agentProblem() {
      return agentProblem.value;
    },
    /** Why the settings edited on disk were not read ("" when they were). */
    get settingsRefused() {
      return settingsRefused.value;
    },
    /** Experts paused by their circuit breaker ("" when none). */
    get pausedExperts() {
      return pausedExperts.value ? `Circuit breaker: ${pausedExperts.value} paused` : "";
    },
    get pausing() {
      return s.pausing;
    },
    get pauseLabel() {
      return paused.value ? "Resume spawning" : "Pause spawning";
    },
    get pauseClass() {
      return paused.value
        ? "bg-emerald-600 text-white hover:bg-emerald-500"
        : "bg-white text-slate-700 ring-1 ring-slate-300 hover:bg-slate-50";
    },
    togglePause() {
      void c.actions.togglePause();
    },

    // Alert banner
    get banner() {
      return banner.value;
    },
    get bannerClass() {
      return this.banner.severity === "critical" ? "border-red-300 bg-red-50 text-red-900" : "border-amber-300 bg-amber-50 text-amber-900";
    },
    dismissAlert(key: string) {
      c.notices.dismiss(key);
    },
    dismissAllAlerts() {
      c.notices.dismissAll();
    },
    alertWhen(item: BannerItem) {
      return formatRelative(item.at, s.nowMs);
    },

    // Toasts
    get toasts() {
      return s.toasts;
    },
    toastClass(tone: string) {
      return tone === "error" ? "bg-red-700 text-white" : tone === "success" ? "bg-emerald-700 text-white" : "bg-slate-800 text-white";
    },
    closeToast(id: number) {
      c.notices.closeToast(id);
    },

    // Worker and task actions (rows and the detail page call these)
    isBusy(id: string) {
      return s.busy.includes(id);
    },
    openWorker(id: string) {
      c.openWorker(id);
    },
    openTask(id: string) {
      c.openTask(id);
    },
    // The row-action menu: one button per row, the actions in a popover.
    menuFor: "",
    menuStyle: { top: "0px", left: "0px" } as Record<string, string>,
    /** Opens the menu beside its button, inside the window (above it near the bottom edge). */
    toggleMenu(id: string, button?: HTMLElement) {
      if (this.menuFor === id) {
        this.menuFor = "";
        return;
      }
      const r = button?.getBoundingClientRect();
      if (r) this.menuStyle = menuPlacement(r, window.innerWidth, window.innerHeight);
      this.menuFor = id;
    },
    get menuActions() {
      const w = this.menuFor ? k.workerById().get(this.menuFor) : undefined;
      return w ? workerActions(w) : NO_ACTIONS;
    },
    menuDo(action: string) {
      const id = this.menuFor;
      this.menuFor = "";
      if (!id) return;
      if (action === "kill") this.killWorker(id);
      else if (action === "restart") this.restartWorker(id);
      else if (action === "extend") this.extendWorker(id);
      else if (action === "nudge") this.nudgeWorker(id);
      else if (action === "reply") this.replyWorker(id);
      else if (action === "folder") this.openFolder(id);
      else if (action === "takeover") this.takeOver(id);
      else if (action === "task") {
        const w = k.workerById().get(id);
        if (w) c.openTask(w.task_id);
      }
    },
    closeMenu() {
      this.menuFor = "";
    },
    isMenuOpen(id: string) {
      return this.menuFor === id;
    },
    replyWorker(id: string) {
      s.modal = { kind: "reply", workerId: id, text: "", error: "" };
    },
    killWorker(id: string) {
      s.modal = {
        kind: "confirm",
        title: "Kill this worker?",
        body: `Worker ${id} gets SIGTERM, then SIGKILL after the grace period, and ends cancelled. Its task is not retried.`,
        confirmLabel: "Kill worker",
        action: "kill",
        targetId: id,
      };
    },
    restartWorker(id: string) {
      void c.actions.restart(id);
    },
    extendWorker(id: string) {
      void c.actions.extend(id, 15);
    },
    nudgeWorker(id: string) {
      s.modal = { kind: "nudge", workerId: id, text: "", error: "" };
    },
    openFolder(id: string) {
      void c.actions.openFolder(id);
    },
    takeOver(id: string) {
      s.modal = {
        kind: "confirm",
        title: "Take over this worker?",
        body: `Cortex stops ${id} (its agent ends, as with Kill, and nothing restarts it), then opens its session in a terminal for you to continue by hand.`,
        confirmLabel: "Take over",
        action: "takeover",
        targetId: id,
      };
    },
    correctRouting(task: { id: string; fullText?: string; description?: string; experts?: string }) {
      const t = s.tasks.find((x) => x.id === task.id);
      const current = t?.routing?.primary_expert ?? t?.expert ?? "";
      s.modal = { kind: "reroute", taskId: task.id, taskText: t?.description ?? "", current, choice: current };
    },
    confirmTask(id: string) {
      void c.actions.confirmTask(id);
    },
    cancelTask(id: string) {
      s.modal = {
        kind: "confirm",
        title: "Cancel this task?",
        body: `Task ${id} is cancelled and its running workers are stopped.`,
        confirmLabel: "Cancel task",
        action: "cancel",
        targetId: id,
      };
    },

    // Modals
    get modal() {
      return s.modal;
    },
    get modalOpen() {
      return s.modal.kind !== "none";
    },
    get experts() {
      return s.experts;
    },
    closeModal() {
      s.modal = { kind: "none" };
    },
    confirmModal() {
      const m = s.modal;
      if (m.kind !== "confirm") return;
      s.modal = { kind: "none" };
      if (m.action === "kill") void c.actions.kill(m.targetId);
      else if (m.action === "takeover") void c.actions.takeOver(m.targetId);
      else void c.actions.cancelTask(m.targetId);
    },
    sendNudge() {
      const m = s.modal;
      if (m.kind !== "nudge") return;
      if (!m.text.trim()) {
        m.error = "Write what the worker should do next.";
        return;
      }
      s.modal = { kind: "none" };
      void c.actions.nudge(m.workerId, m.text.trim());
    },
    async sendReply() {
      const m = s.modal;
      if (m.kind !== "reply") return;
      if (!m.text.trim()) {
        m.error = "Write what the worker should do next.";
        return;
      }
      const a = await c.review.reply(m.workerId, m.text.trim());
      if ("error" in a) {
        m.error = a.error.message;
        return;
      }
      s.modal = { kind: "none" };
    },
    chooseExpert(expert: string) {
      if (s.modal.kind === "reroute") s.modal.choice = expert;
    },
    expertChoiceClass(expert: string) {
      const m = s.modal;
      const chosen = m.kind === "reroute" && m.choice === expert;
      return chosen ? "border-indigo-500 bg-indigo-50 text-indigo-900 ring-1 ring-indigo-500" : "border-slate-200 hover:bg-slate-50";
    },
    applyReroute() {
      const m = s.modal;
      if (m.kind !== "reroute" || !m.choice) return;
      s.modal = { kind: "none" };
      void c.actions.reroute(m.taskId, m.choice);
    },
  }));
}
