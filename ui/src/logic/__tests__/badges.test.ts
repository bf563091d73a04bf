import { describe, expect, it } from "vitest";
import { healthBadge, isTerminalState, taskStatusBadge, workerBadge, severityBadge } from "../badges";
import { workerBucket } from "../fleet";

describe("health badges", () => {
  it("maps every health to its colour", () => {
    const tones = Object.fromEntries(
      ["healthy", "starting", "waiting", "late", "stalled", "zombie", "failed", "completed"].map((h) => [h, healthBadge(h).tone]),
    );
    expect(tones).toEqual({
      healthy: "green",
      starting: "blue",
      waiting: "blue",
      late: "amber",
      stalled: "orange",
      zombie: "red",
      failed: "red",
      completed: "grey",
    });
    expect(healthBadge("stalled").label).toBe("Stalled");
    expect(healthBadge("stalled").cls).toContain("bg-orange-100");
  });
  it("shows how a finished worker ended, and the health of a live one", () => {
    expect(workerBadge({ state: "failed", health: "zombie" }).key).toBe("failed");
    expect(workerBadge({ state: "cancelled", health: "healthy" }).tone).toBe("grey");
    expect(workerBadge({ state: "running", health: "late" }).key).toBe("late");
    expect(workerBadge({ state: "starting", health: "" }).key).toBe("starting");
  });
  it("says waiting wherever the counts do: a retry the stream announced, before the PM's next look", () => {
    const retrying = { state: "running" as const, health: "healthy", waiting_for: { kind: "api_retry" as const, until: "2025-06-01T12:00:30Z" } };
    expect(workerBadge(retrying).key).toBe("waiting");
    expect(workerBucket(retrying)).toBe("waiting");
    // The engine drops the wait once the PM finds it overdue: its verdict shows.
    expect(workerBadge({ state: "running", health: "stalled", waiting_for: null }).key).toBe("stalled");
  });
  it("does not break on an unknown health", () => {
    const b = healthBadge("sleepy_mode");
    expect(b.tone).toBe("grey");
    expect(b.label).toBe("sleepy mode");
  });
  it("maps task statuses and severities", () => {
    expect(taskStatusBadge("needs_attention")).toMatchObject({ label: "Needs attention", tone: "amber" });
    expect(taskStatusBadge("failed").tone).toBe("red");
    expect(severityBadge("critical").tone).toBe("red");
  });
});

describe("outcomes that need a person", () => {
  it("shows needs-you and a running check, and counts them as ended workers", () => {
    expect(taskStatusBadge("needs_input")).toMatchObject({ label: "Needs you", tone: "amber" });
    expect(workerBadge({ state: "needs_input", health: "needs_input" })).toMatchObject({ label: "Needs you" });
    expect(workerBadge({ state: "running", health: "verifying" })).toMatchObject({ label: "Verifying" });
    expect(workerBadge({ state: "running", health: "exited" }).label).toContain("not settled");
    expect(isTerminalState("needs_attention")).toBe(true);
  });
});
