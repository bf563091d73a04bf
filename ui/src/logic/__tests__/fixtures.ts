import type { Alert, Decision, Task, Worker } from "../../types";

export const T0 = Date.parse("2025-06-01T12:00:00Z");
export const iso = (offsetSecs: number) => new Date(T0 + offsetSecs * 1000).toISOString();

export function task(over: Partial<Task> = {}): Task {
  return {
    id: "t-01aaaaaaaaaaaaaaaaaaaaaaaa",
    status: "queued",
    priority: "medium",
    type: null,
    description: "Fix the flaky login test",
    created_at: iso(0),
    updated_at: iso(0),
    cost_usd: 0,
    ...over,
  };
}

export function worker(over: Partial<Worker> = {}): Worker {
  return {
    id: "w-01aaaaaaaaaaaaaaaaaaaaaaaa",
    task_id: "t-01aaaaaaaaaaaaaaaaaaaaaaaa",
    expert: "development",
    attempt: 1,
    pid: 4242,
    state: "running",
    health: "healthy",
    reason: null,
    session_id: "5f0c-session",
    cost_usd: 0.0123,
    tokens: { input: 12_345, output: 678 },
    workdir: "/tmp/w",
    started_at: iso(0),
    created_at: iso(0),
    activity: null,
    last_activity_at: iso(60),
    last_activity_source: "output",
    last_text: null,
    time_limit_secs: 3600,
    restarts: 0,
    ...over,
  };
}

export function alert(over: Partial<Alert> = {}): Alert {
  return {
    at: iso(0),
    severity: "warning",
    kind: "stalled",
    worker_id: "w-1",
    attempt: 1,
    message: "worker w-1 stalled",
    ...over,
  };
}

export function decision(over: Partial<Decision> = {}): Decision {
  return {
    primary_expert: "security",
    confidence: 0.85,
    strategy: "single_expert",
    parallel_experts: ["security"],
    scores: { security: 0.85, development: 0.37, cicd: 0 },
    keyword_scores: { security: 0.85, development: 0.37, cicd: 0 },
    matched: { security: ["xss", "sanitize"], development: ["fix", "-deploy"] },
    method: "keywords",
    needs_confirmation: false,
    explanation: "security matched xss, sanitize",
    ...over,
  };
}
