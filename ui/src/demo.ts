// Development only: the views with fixed sample data, no engine. Served by
// `npm run dev` at /demo.html; never part of the production build (only
// index.html is built). Query: ?view=workers|tasks|routing|activity|settings,
// ?worker=<id>, ?draft=<text> (types into the task box), ?bad-settings (a
// save the engine refuses, to show the inline error).
import "./style.css";
import type { CortexApi } from "./api";
import { boot } from "./app/boot";
import type { ViewId } from "./app/state";
import type {
  ActivityLine,
  Alert,
  Changes,
  Decision,
  EngineEvent,
  LoggedDecision,
  Status,
  Task,
  TaskStory,
  TranscriptEntry,
  UsageReport,
  Worker,
  WorkerStory,
} from "./types";

const NOW = Date.now();
const at = (secsAgo: number) => new Date(NOW - secsAgo * 1000).toISOString();
const EXPERTS = ["cicd", "coordinator", "development", "inventory", "security"];

const KEYWORDS: Record<string, string[]> = {
  security: ["xss", "csrf", "injection", "vulnerability", "secret", "auth", "sanitize", "cve", "input"],
  cicd: ["pipeline", "deploy", "ci", "workflow", "docker", "release", "build"],
  development: ["fix", "bug", "test", "refactor", "feature", "implement", "api"],
  inventory: ["dependency", "dependencies", "license", "sbom", "inventory", "upgrade"],
  coordinator: ["plan", "split", "coordinate", "roadmap", "triage"],
};

function route(text: string, type: string | null): Decision {
  const words = text.toLowerCase().split(/[^a-z0-9]+/);
  const matched: Record<string, string[]> = {};
  const scores: Record<string, number> = {};
  for (const e of EXPERTS) {
    const m = KEYWORDS[e].filter((k) => words.includes(k));
    if (m.length) matched[e] = m;
    scores[e] = Math.min(1, m.length * 0.25 + (m.length > 1 ? 0.12 : 0));
  }
  if (words.includes("deploy") && matched.development) matched.development.push("-deploy");
  const ranked = [...EXPERTS].sort((a, b) => scores[b] - scores[a]);
  const top = type ? "security" : ranked[0];
  const conf = type ? 0.95 : scores[top];
  const parallel = ranked.filter((e) => scores[e] >= 0.6);
  const strategy = conf < 0.3 ? "single_expert_low_confidence" : parallel.length > 1 ? "multi_expert_parallel" : "single_expert";
  const primary = conf < 0.3 && conf === 0 ? "development" : top;
  return {
    primary_expert: primary,
    confidence: conf,
    strategy,
    parallel_experts: strategy === "multi_expert_parallel" ? parallel : [primary],
    scores,
    keyword_scores: scores,
    matched,
    method: type ? "type" : "keywords",
    needs_confirmation: conf < 0.3,
    explanation:
      conf < 0.3
        ? `No expert reached 0.30; ${primary} takes it and a person should confirm.`
        : `${primary} matched ${(matched[primary] ?? []).join(", ")} (confidence ${Math.round(conf * 100)}%).`,
  };
}

function routing(d: Decision) {
  return {
    primary_expert: d.primary_expert,
    confidence: d.confidence,
    strategy: d.strategy,
    method: d.method,
    needs_confirmation: d.needs_confirmation,
    explanation: d.explanation,
  };
}

let seq = 0;
const tid = () => `t-01jx7k${String(++seq).padStart(2, "0")}p9ah3dq2n5kv8rmc${seq}w`;
const wid = (n: number) => `w-01jx7m${String(n).padStart(2, "0")}zt4bq7xk2e9fjn6d${n}h`;

function mkTask(secsAgo: number, status: Task["status"], description: string, priority: Task["priority"], extra: Partial<Task> = {}): Task {
  const d = route(description, null);
  return {
    id: tid(),
    status,
    priority,
    type: null,
    description,
    created_at: at(secsAgo),
    updated_at: at(Math.max(0, secsAgo - 30)),
    workdir: "/home/dev/shop",
    cost_usd: 0,
    expert: d.primary_expert,
    experts: d.parallel_experts,
    routing: routing(d),
    ...extra,
  };
}

const tasks: Task[] = [
  mkTask(60, "queued", "Plan the split of the billing module into services and triage open issues", "low"),
  mkTask(240, "running", "Fix the XSS in the comment form: sanitize user input and add a regression test", "high"),
  mkTask(900, "running", "Upgrade every dependency with a known CVE and regenerate the SBOM", "medium"),
  mkTask(1500, "running", "Make the CI pipeline cache docker layers so the release build is faster", "medium"),
  mkTask(2100, "needs_attention", "Tidy up the old stuff in the attic folder", "low", { reason: "low-confidence routing: confirm the expert" }),
  mkTask(2600, "running", "Implement the refund API endpoint with tests", "critical"),
  mkTask(3400, "waiting", "Refactor the auth middleware and fix the session bug", "high", { reason: "rate limited until " + at(-120) }),
  mkTask(5200, "completed", "Fix flaky test in the checkout flow", "medium", { cost_usd: 0.4123 }),
  mkTask(7200, "failed", "Deploy the staging workflow with the new secret store", "high", { reason: "crashed twice: exit code 137" }),
];
tasks[4].routing = { ...tasks[4].routing!, confidence: 0, strategy: "single_expert_low_confidence", needs_confirmation: true, primary_expert: "development" };

function mkWorker(n: number, task: Task, over: Partial<Worker>): Worker {
  return {
    id: wid(n),
    task_id: task.id,
    expert: task.expert ?? "development",
    attempt: 1,
    pid: 41000 + n,
    state: "running",
    health: "healthy",
    reason: null,
    session_id: `7c1e${n}a42-93b1-4c55-9f0e-2d6b0c8e${n}f1a`,
    cost_usd: 0.0123 * n,
    tokens: { input: 8200 * n + 311, output: 910 * n + 17 },
    workdir: `/home/dev/.local/share/cortex/worktrees/${task.id}`,
    started_at: task.created_at,
    created_at: task.created_at,
    activity: { kind: "working", since: at(5) },
    last_activity_at: at(3),
    last_activity_source: "output",
    last_text: null,
    time_limit_secs: 3600,
    restarts: 0,
    ...over,
  };
}

const workers: Worker[] = [
  mkWorker(1, tasks[1], {
    health: "healthy",
    activity: { kind: "running_tool", tool: "Bash", since: at(12) },
    last_text: "Running the comment form tests after escaping the output in CommentView.",
  }),
  mkWorker(2, tasks[2], { health: "late", last_activity_at: at(372), last_activity_source: "hook", activity: { kind: "waiting_on_model", since: at(372) } }),
  mkWorker(3, tasks[3], { health: "stalled", last_activity_at: at(655), last_activity_source: "cpu", time_limit_secs: 1800, started_at: at(1500) }),
  mkWorker(4, tasks[5], { health: "zombie", attempt: 2, restarts: 1, last_activity_at: at(1250), last_activity_source: "output", started_at: at(2600), time_limit_secs: 2700 }),
  mkWorker(5, tasks[6], {
    state: "running",
    health: "waiting",
    activity: { kind: "retrying_api", until: at(-95), status: 529, attempt: 3 },
    waiting_for: { kind: "api_retry", until: at(-95) },
    cost_estimated: true,
    last_activity_source: "output",
    last_activity_at: at(20),
  }),
  mkWorker(6, tasks[0], { health: "starting", pid: 41099, started_at: at(8), last_activity_at: null, last_activity_source: null, activity: { kind: "starting" }, cost_usd: 0, tokens: { input: 0, output: 0 } }),
  mkWorker(7, tasks[7], { state: "completed", health: "completed", pid: null, last_activity_at: at(4100), activity: null, cost_usd: 0.4123 }),
  mkWorker(8, tasks[8], { state: "failed", health: "failed", pid: null, attempt: 3, restarts: 2, reason: "crashed: exit code 137 (killed by the OOM killer)", last_activity_at: at(6000), activity: null }),
  mkWorker(9, tasks[8], { expert: "security", state: "cancelled", health: "cancelled", pid: null, session_id: null, reason: "killed by a person", last_activity_at: at(6500), activity: null, created_at: at(7100) }),
];

const transcript: TranscriptEntry[] = [
  { attempt: 1, kind: "session", text: "session 7c1e1a42-93b1-4c55-9f0e-2d6b0c8e1f1a · model claude-sonnet · cwd /home/dev/shop" },
  { attempt: 1, kind: "assistant", text: "I'll start by finding where comments are rendered and how user input reaches the template." },
  { attempt: 1, kind: "tool_call", text: 'Grep {"pattern": "innerHTML|dangerouslySetInnerHTML", "path": "src/comments"}' },
  { attempt: 1, kind: "tool_result", text: "src/comments/CommentView.tsx:42:    <div dangerouslySetInnerHTML={{ __html: comment.body }} />" },
  { attempt: 1, kind: "api_retry", text: "API error 529 (overloaded): retrying in 8s (attempt 2 of 10)" },
  { attempt: 1, kind: "assistant", text: "Found it: the body is inserted as raw HTML. <script>alert('not executed')</script> shows up as text here because the UI never renders HTML from data." },
  { attempt: 1, kind: "tool_call", text: 'Edit {"file_path": "src/comments/CommentView.tsx", "old_string": "dangerouslySetInnerHTML={{ __html: comment.body }}", "new_string": "{comment.body}"}' },
  { attempt: 1, kind: "tool_call", text: 'Bash {"command": "npm test -- comments"}' },
  { attempt: 1, kind: "tool_error", text: "FAIL src/comments/CommentView.test.tsx\n  ● renders markdown links\n    expected <a> element, received text" },
  { attempt: 1, kind: "check_in", text: "check-in: progress 60% · PostToolUse Bash" },
  { attempt: 1, kind: "assistant", text: "The markdown test relied on raw HTML. I'll render markdown through the sanitizer instead and keep the link test." },
  { attempt: 1, kind: "result", text: "success · 14 turns · $0.0123 · 8.5k in / 927 out" },
];

const alerts: Alert[] = [
  { at: at(40), severity: "critical", kind: "zombie", worker_id: workers[3].id, task_id: tasks[5].id, attempt: 2, message: `worker ${workers[3].id} silent for 20m 50s, killed; restarting with --resume (attempt 3)` },
  { at: at(55), severity: "warning", kind: "stalled", worker_id: workers[2].id, task_id: tasks[3].id, attempt: 1, message: `worker ${workers[2].id} silent for 10m 55s with no CPU progress` },
  {
    at: at(90),
    severity: "warning",
    kind: "timeout_warning",
    message: "2 more workers need attention (stalled, time limit near); 1 time limit near",
    summarized: [
      { at: at(91), severity: "warning", kind: "timeout_warning", worker_id: workers[3].id, message: "75% of the time limit used" },
      { at: at(91), severity: "info", kind: "timeout_warning", worker_id: workers[1].id, message: "50% of the time limit used" },
      { at: at(92), severity: "warning", kind: "stalled", worker_id: workers[2].id, message: "stalled" },
    ],
  },
  { at: at(4100), severity: "info", kind: "completed", worker_id: workers[6].id, task_id: tasks[7].id, attempt: 1, message: "Fix flaky test in the checkout flow: completed ($0.4123)" },
];

const activity: ActivityLine[] = [
  { at: at(6000), event: "health", worker_id: workers[7].id, task_id: tasks[8].id, attempt: 3, from: "healthy", to: "zombie", message: "process gone while running" },
  { at: at(1260), event: "health", worker_id: workers[3].id, task_id: tasks[5].id, attempt: 1, from: "stalled", to: "zombie", message: "silent 20m with no CPU progress" },
  { at: at(1255), event: "kill_and_restart", worker_id: workers[3].id, task_id: tasks[5].id, attempt: 1, message: "killed the process tree; restart in 30s with --resume" },
  { at: at(980), event: "extend", worker_id: workers[1].id, task_id: tasks[1].id, attempt: 1, message: "extended by 15m: progressing at the limit" },
  { at: at(372), event: "health", worker_id: workers[1].id, task_id: tasks[2].id, attempt: 1, from: "healthy", to: "late", message: "silent 5m, CPU 1%" },
  { at: at(60), event: "health", worker_id: workers[0].id, task_id: tasks[1].id, attempt: 1, from: "late", to: "healthy", message: "output again (tool Bash, CPU 38%)" },
  { at: at(236), event: "health", worker_id: workers[0].id, task_id: tasks[1].id, attempt: 1, from: "starting", to: "healthy", message: "first output after 4s" },
  { at: at(120), event: "health", worker_id: workers[0].id, task_id: tasks[1].id, attempt: 1, from: "healthy", to: "late", message: "silent 5m, CPU 1%" },
  { at: at(55), event: "health", worker_id: workers[2].id, task_id: tasks[3].id, attempt: 1, from: "late", to: "stalled", message: "silent 10m with no CPU progress" },
  { at: at(55), event: "alert", worker_id: workers[2].id, task_id: tasks[3].id, attempt: 1, message: `worker ${workers[2].id} silent for 10m 55s with no CPU progress` },
  { at: at(41), event: "health", worker_id: workers[3].id, task_id: tasks[5].id, attempt: 2, from: "stalled", to: "zombie", message: "silent 20m 50s" },
  { at: at(40), event: "kill_and_restart", worker_id: workers[3].id, task_id: tasks[5].id, attempt: 2, message: "killed; restart 2 of 2 after 60s backoff" },
];
activity.sort((a, b) => a.at.localeCompare(b.at));
activity.push({ at: at(2), event: "extend", worker_id: workers[0].id, task_id: tasks[1].id, attempt: 1, message: "extended by 15m by a person" });

const decisions: LoggedDecision[] = tasks
  .map((t) => ({ ...route(t.description, null), task_id: t.id, at: t.created_at }))
  .sort((a, b) => a.at.localeCompare(b.at));
decisions.push({ ...route(tasks[4].description, null), parallel_experts: ["inventory"], primary_expert: "inventory", confidence: 1, method: "person", needs_confirmation: false, strategy: "single_expert", explanation: "corrected by a person", task_id: tasks[4].id, at: at(1800) });
decisions.push({ ...route(tasks[8].description, null), parallel_experts: ["cicd"], primary_expert: "cicd", confidence: 1, method: "person", needs_confirmation: false, strategy: "single_expert", explanation: "corrected by a person", task_id: tasks[8].id, at: at(7000) });
decisions.sort((a, b) => a.at.localeCompare(b.at));

const config = {
  schema_version: 1,
  capacity: { max_workers: 4 },
  routing: { single_threshold: 0.8, multi_threshold: 0.6, min_activation: 0.3, fallback_expert: "development", learning: { enabled: true, weight: 0.5, min_examples: 5 } },
  agent: { driver: "claude", command: ["claude"], env: {}, args_template: [] },
  isolation: "none",
  on_quit: "keep",
  pm: { startup_budget_secs: 120, late_after_secs: 300, stalled_after_secs: 600, zombie_after_secs: 1200, tick_millis: 1000, kill_grace_secs: 5, nudge_on_stall: false, busy_cpu_percent: 5 },
  restart: { backoff_base_secs: 30, backoff_max_secs: 300, circuit_failures: 5, circuit_window_secs: 900 },
  notifications: { stalled: true, zombie: true, timeout: true, failed: true, circuit_breaker: true, completed: false, coalesce_window_millis: 1500 },
};

let paused = false;

function status(): Status {
  const count = (xs: string[]) => xs.reduce<Record<string, number>>((m, k) => ((m[k] = (m[k] ?? 0) + 1), m), {});
  const live = workers.filter((w) => !["completed", "failed", "cancelled"].includes(w.state));
  return {
    tasks: count(tasks.map((t) => t.status)),
    workers: count(workers.map((w) => w.state)),
    health: count(live.map((w) => w.health)),
    paused,
    success_rate: 0.82,
    cost_today_usd: 1.8734,
    tokens_today: 412_345,
    now: new Date().toISOString(),
  };
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const find = (id: string) => {
  const w = workers.find((x) => x.id === id);
  if (!w) throw { code: "unknown_worker", message: `no worker ${id}` };
  return w;
};
const ok = <T>(v: T) => new Promise<T>((r) => setTimeout(() => r(clone(v)), 30));

let emit: (ev: EngineEvent) => void = () => {};

const DEMO_PATCH = [
  "diff --git a/src/login.ts b/src/login.ts",
  "--- a/src/login.ts",
  "+++ b/src/login.ts",
  "@@ -1,4 +1,6 @@",
  " export function login(user: string) {",
  "-  return fetch('/login');",
  "+  const res = await fetch('/login', { retry: 3 });",
  "+  if (!res.ok) throw new Error(`login failed: ${res.status}`);",
  "+  return res;",
  " }",
  "",
].join("\n");

function demoStory(taskId: string): TaskStory {
  const t = tasks.find((x) => x.id === taskId) ?? tasks[0];
  const ws = workers.filter((w) => w.task_id === t.id);
  const tok = (input: number, output: number) => ({ input, output, cache_read: 0, cache_creation: 0 });
  const changes = (w: Worker): Changes => ({
    kind: "worktree", expert: w.expert, worker_id: w.id, branch: `cortex/${t.id}-${w.expert}`, base: "9e1c2d3",
    base_branch: "main", repo: "/home/dev/src/shop", workdir: w.workdir, files: [{ path: "src/login.ts", added: 3, removed: 1 }],
    may_include_others: false,
  });
  const stories: WorkerStory[] = ws.map((w) => ({
    id: w.id, expert: w.expert, status: w.state, reason: w.reason, workdir: w.workdir, result: null, verification: null,
    tokens: tok(w.tokens.input, w.tokens.output), cost_usd: w.cost_usd, cost_estimated: !!w.cost_estimated, duration_secs: 60 * w.attempt,
    attempts: Array.from({ length: w.attempt }, (_, i) => ({
      n: i + 1, started_at: w.created_at, ended_at: i + 1 < w.attempt ? w.created_at : null, resumed: i > 0,
      outcome: i + 1 < w.attempt ? "crashed" : null, reason: null, exit_code: null, cost_usd: 0, cost_estimated: i + 1 < w.attempt,
      tokens: tok(0, 0), duration_secs: 60,
    })),
    base: { repo: "/home/dev/src/shop", commit: "9e1c2d3", branch: "main" }, changes: changes(w),
  }));
  return {
    ...t, tokens: tok(ws.reduce((a, w) => a + w.tokens.input, 0), ws.reduce((a, w) => a + w.tokens.output, 0)),
    duration_secs: stories.reduce((a, s) => a + s.duration_secs, 0), attempts: ws.reduce((a, w) => a + w.attempt, 0),
    cost_estimated: stories.some((s) => s.cost_estimated), workers: stories, changes: stories[0]?.changes ?? null,
  };
}

function demoUsage(days: number): UsageReport {
  const today = new Date();
  const day = (n: number) => new Date(today.getTime() - n * 86_400_000).toISOString().slice(0, 10);
  const rows = Array.from({ length: days }, (_, n) =>
    EXPERTS.slice(0, 1 + (n % 3)).map((expert, i) => ({
      day: day(n), expert, model: i % 2 ? "claude-haiku" : "claude-opus", project: i ? "/home/dev/src/shop" : "/home/dev/src/api",
      tokens: { input: 20_000 + n * 900, output: 3_000 + i * 500, cache_read: 0, cache_creation: 0 },
      cost_usd: 0.4 + ((n * 7 + i * 3) % 10) / 10, cost_estimated: false, attempts: 1 + i,
    })),
  ).flat().sort((a, b) => a.day.localeCompare(b.day));
  return { since: day(days - 1), until: day(0), days, utc_offset_minutes: 0, rows };
}

const demoApi: CortexApi = {
  submitTask: async (req) => {
    const t = mkTask(0, "queued", req.description, (req.priority as Task["priority"]) ?? "medium");
    tasks.unshift(t);
    setTimeout(() => emit({ type: "task_submitted", task: clone(t) }), 50);
    return ok({ task_id: t.id, deduplicated: false, status: t.status });
  },
  routePreview: (text, type) => ok(route(text, type)),
  getStatus: () => ok(status()),
  listTasks: () => ok(tasks),
  listWorkers: () => ok(workers),
  getTranscript: (id) => ok(id === workers[0].id ? transcript : transcript.slice(0, 4)),
  killWorker: async (id) => {
    const w = find(id);
    Object.assign(w, { state: "cancelled", health: "cancelled", pid: null, reason: "killed by a person", last_activity_at: new Date().toISOString() });
    return ok(w);
  },
  restartWorker: async (id) => {
    const w = find(id);
    Object.assign(w, { state: "running", health: "starting", attempt: w.attempt + 1, restarts: w.restarts + 1, started_at: new Date().toISOString(), last_activity_at: null });
    return ok(w);
  },
  extendWorker: async (id, minutes) => {
    const w = find(id);
    w.time_limit_secs += minutes * 60;
    return ok(w);
  },
  nudgeWorker: async (id) => ok(find(id)),
  rerouteTask: async (taskId, expert) => {
    const t = tasks.find((x) => x.id === taskId)!;
    t.expert = expert;
    t.experts = [expert];
    t.routing = { ...t.routing!, primary_expert: expert, method: "person", confidence: 1, needs_confirmation: false };
    t.updated_at = new Date().toISOString();
    decisions.push({ ...route(t.description, null), primary_expert: expert, method: "person", confidence: 1, task_id: taskId, at: t.updated_at });
    return ok({ ...t, applied: true, message: `${taskId} now goes to ${expert}; the correction was recorded` });
  },
  confirmTask: async (taskId, expert) => {
    const t = tasks.find((x) => x.id === taskId)!;
    t.status = "routed";
    if (expert) t.expert = expert;
    t.updated_at = new Date().toISOString();
    return ok({ ...t, message: `${taskId} confirmed`, applied: true });
  },
  cancelTask: async (taskId) => {
    const t = tasks.find((x) => x.id === taskId)!;
    t.status = "cancelled";
    t.updated_at = new Date().toISOString();
    return ok(t);
  },
  setPaused: async (p) => {
    paused = p;
    return ok({ paused });
  },
  getSettings: () => ok({ config, experts: EXPERTS, notifications: config.notifications }),
  saveSettings: async (c) => {
    const pm = (c.pm ?? {}) as Record<string, number>;
    if ((pm.stalled_after_secs ?? 600) <= (pm.late_after_secs ?? 300)) {
      throw {
        code: "bad_config",
        file: "config.json",
        key: "pm.stalled_after_secs",
        message: `config.json: key \`pm.stalled_after_secs\`: must be greater than pm.late_after_secs (${pm.late_after_secs ?? 300})`,
      };
    }
    Object.assign(config, clone(c));
    return ok(config);
  },
  recentDecisions: (limit) => ok(decisions.slice(-limit)),
  recentActivity: (limit) => ok(activity.slice(-limit)),
  recentAlerts: () => ok([]),
  doctor: () =>
    ok({
      agent_command: config.agent.command,
      agent_resolved: "/home/dev/.local/bin/claude",
      agent_version: "2.1.197 (Claude Code)",
      home: "/home/dev/.local/share/cortex",
      notifications: "desktop notifications on (notify-send); kinds: stalled, zombie, timeout, failed, circuit_breaker",
    }),
  openWorkerFolder: () => ok(null),
  openInEditor: () => ok(null),
  takeOverWorker: () => ok(null),
  taskDetail: (taskId) => ok(demoStory(taskId)),
  taskDiff: (taskId) => ok({ ...demoStory(taskId).changes!, task_id: taskId, patch: DEMO_PATCH }),
  mergeTask: (req) =>
    ok({
      task_id: req.task_id, expert: "development", branch: `cortex/${req.task_id}-development`, into: "main",
      commit: "4f2a9c1e0b7d", committed_changes: null, fast_forward: true, squash: req.squash, already_merged: false,
      checked_out_in: "/home/dev/src/shop", files: [{ path: "src/login.ts", added: 3, removed: 1 }],
    }),
  replyWorker: async (id) => {
    const w = find(id);
    Object.assign(w, { state: "running", health: "starting", attempt: w.attempt + 1, started_at: new Date().toISOString(), last_activity_at: null });
    return ok(w);
  },
  usageByDay: (days) => ok(demoUsage(days)),
  listExperts: () => ok(EXPERTS.map((name) => ({ name, activation_keywords: [name], task_types: [name], preamble: "", description: `${name} (sample)` }))),
  checkExpert: (p) => ok(p),
  saveExpert: (p) => ok(p),
  onEngineEvent: async (handler) => {
    emit = handler;
    // The alerts of the last minutes arrive as events, as they would live.
    setTimeout(() => [...alerts].reverse().forEach((alert) => handler({ type: "alert", alert })), 0);
    return () => {
      emit = () => {};
    };
  },
  onFocusWorker: async () => () => {},
  onEngineReady: async () => () => {},
  onEngineUnavailable: async () => () => {},
  onEngineMissed: async () => () => {},
};

const params = new URLSearchParams(window.location.search);
const view = (params.get("view") ?? undefined) as ViewId | undefined;
const workerParam = params.get("worker");
const workerId = workerParam === "" || workerParam === "1" ? workers[0].id : (workerParam ?? undefined);

void boot(demoApi, { view, workerId }).then(({ controller }) => {
  // Some history for the charts.
  const active = [3, 3, 4, 4, 5, 4, 6, 6, 5, 6, 7, 6];
  const success = [70, 72, 75, 74, 78, 80, 79, 81, 83, 82, 82, 82];
  controller.charts.seed("active", active.map((v, i) => ({ t: NOW - (active.length - i) * 5 * 60_000, v })));
  controller.charts.seed("success", success.map((v, i) => ({ t: NOW - (success.length - i) * 5 * 60_000, v })));

  const draft = params.get("draft");
  if (draft) {
    const box = document.querySelector<HTMLTextAreaElement>('[data-testid="task-text"]');
    if (box) {
      box.value = draft;
      box.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }
  if (params.has("bad-settings")) {
    setTimeout(() => {
      const input = document.getElementById("f-pm.stalled_after_secs") as HTMLInputElement | null;
      if (!input) return;
      input.value = "240";
      input.dispatchEvent(new Event("input", { bubbles: true }));
      const cmd = document.getElementById("f-agent.command") as HTMLInputElement | null;
      if (cmd) {
        cmd.value = "claude --verbose";
        cmd.dispatchEvent(new Event("input", { bubbles: true }));
      }
      document.querySelector<HTMLButtonElement>('[data-testid="settings-save"]')?.click();
      // The local check flags agent.command first; fix it so the engine's answer shows too.
      setTimeout(() => {
        if (cmd) {
          cmd.value = '["claude", "--verbose"]';
          cmd.dispatchEvent(new Event("input", { bubbles: true }));
        }
        document.querySelector<HTMLButtonElement>('[data-testid="settings-save"]')?.click();
      }, 200);
    }, 300);
  }
});
