import { describe, expect, it } from "vitest";
import {
  attemptReason,
  axisClock,
  formatAgo,
  formatDuration,
  formatMinutes,
  formatMoney,
  formatConfidence,
  formatPercent,
  formatRelative,
  formatTokens,
  reasonBeside,
  stateAndReason,
  shortId,
  strategyLabel,
  truncate,
} from "../format";
import { compareTime, parseTime } from "../time";
import { T0, iso } from "./fixtures";

describe("formatDuration", () => {
  it("pads seconds under an hour and minutes over one", () => {
    expect(formatDuration(125)).toBe("2m 05s");
    expect(formatDuration(45)).toBe("45s");
    expect(formatDuration(3720)).toBe("1h 02m");
    expect(formatDuration(93600)).toBe("1d 02h");
  });
  it("floors fractions, clamps negatives and shows a dash for nothing", () => {
    expect(formatDuration(59.9)).toBe("59s");
    expect(formatDuration(-5)).toBe("0s");
    expect(formatDuration(null)).toBe("—");
    expect(formatDuration(Number.NaN)).toBe("—");
  });
  it("formats limits in coarse minutes", () => {
    expect(formatMinutes(720)).toBe("12m");
    expect(formatMinutes(3600)).toBe("60m");
    expect(formatMinutes(40)).toBe("40s");
    expect(formatMinutes(12 * 3600)).toBe("12h");
  });
});

describe("relative times", () => {
  it("counts seconds, minutes, hours and days ago", () => {
    expect(formatRelative(iso(0), T0 + 3_400)).toBe("3s ago");
    expect(formatRelative(iso(0), T0 + 5 * 60_000)).toBe("5m ago");
    expect(formatRelative(iso(0), T0 + 2 * 3_600_000 + 5)).toBe("2h ago");
    expect(formatRelative(iso(0), T0 + 3 * 86_400_000)).toBe("3d ago");
  });
  it("says just now, future and never", () => {
    expect(formatRelative(iso(0), T0 + 200)).toBe("just now");
    expect(formatAgo(-4_000)).toBe("in 4s");
    expect(formatRelative(null, T0)).toBe("never");
    expect(formatRelative("not a time", T0)).toBe("never");
  });
});

describe("money, tokens, percent", () => {
  it("shows four decimals under a dollar and two above", () => {
    expect(formatMoney(0.0123)).toBe("$0.0123");
    expect(formatMoney(0)).toBe("$0.00");
    // Under what four decimals hold is not an exact zero; a rounding to a dollar is a dollar.
    expect(formatMoney(0.00004)).toBe("< $0.0001");
    expect(formatMoney(0.99996)).toBe("$1.00");
    expect(formatMoney(12.345)).toBe("$12.35");
    expect(formatMoney(1234.5)).toBe("$1,234.50");
    expect(formatMoney(undefined)).toBe("—");
  });
  it("abbreviates token counts", () => {
    expect(formatTokens(950)).toBe("950");
    expect(formatTokens(12_345)).toBe("12.3k");
    expect(formatTokens(123_456)).toBe("123k");
    expect(formatTokens(4_500_000)).toBe("4.5M");
  });
  it("rounds percentages and handles no data", () => {
    expect(formatPercent(0.873)).toBe("87%");
    expect(formatPercent(null)).toBe("—");
    // A confidence is cut, as the engine's explanation cuts it: below a
    // minimum of 0.50 never reads 50%.
    expect(formatConfidence(0.499)).toBe("49%");
    expect(formatConfidence(0.29)).toBe("29%");
    expect(formatConfidence(0.5)).toBe("50%");
    expect(formatConfidence(Number.NaN)).toBe("—");
  });
});

describe("text helpers", () => {
  it("truncates with an ellipsis after collapsing whitespace", () => {
    expect(truncate("fix   the\nlogin", 40)).toBe("fix the login");
    expect(truncate("abcdefghij", 5)).toBe("abcd…");
  });
  it("shortens ids to their random tail and names strategies", () => {
    expect(shortId("t-01m85c8stnvvhps4dd4r52czgd")).toBe("t-…r52czgd");
    expect(shortId("w-1")).toBe("w-1");
    expect(strategyLabel("multi_expert_parallel")).toBe("parallel experts");
  });
});

describe("timestamps", () => {
  it("parses nanosecond timestamps and orders within a millisecond", () => {
    expect(parseTime("2025-06-01T12:00:00.123456789Z")).toBe(T0 + 123);
    expect(compareTime("2025-06-01T12:00:00.123456Z", "2025-06-01T12:00:00.123457Z")).toBe(-1);
    expect(compareTime("2025-06-01T12:00:00.5Z", "2025-06-01T12:00:00.500000000Z")).toBe(0);
    expect(compareTime("2025-06-01T14:00:00+02:00", "2025-06-01T12:00:00Z")).toBe(0);
    expect(compareTime(null, iso(0))).toBe(-1);
  });
});

describe("axisClock", () => {
  const at = new Date(2025, 5, 1, 14, 3, 22).getTime(); // local time
  it("shows seconds while the axis spans less than ten minutes", () => {
    expect(axisClock(at, 0)).toBe("14:03:22");
    expect(axisClock(at, 9 * 60_000)).toBe("14:03:22");
  });
  it("shows hours and minutes once it spans more", () => {
    expect(axisClock(at, 10 * 60_000)).toBe("14:03");
    expect(axisClock(at, 6 * 3_600_000)).toBe("14:03");
  });
});

describe("reasonBeside (the engine's reason_beside: the same cases)", () => {
  it("never says the status twice", () => {
    expect(reasonBeside("completed", "completed")).toBe("");
    // An attempt that succeeded, as the engine's attempt_reason_beside says it.
    expect(attemptReason("completed", "success")).toBe("");
    expect(attemptReason("exited with 3", "crashed")).toBe("exited with 3");
    expect(reasonBeside(null, "completed")).toBe("");
    expect(reasonBeside("completed, verified: make test passed", "completed")).toBe("verified: make test passed");
    expect(reasonBeside("needs input", "needs_input")).toBe("");
    expect(reasonBeside("needs attention; dependency failed", "needs_attention")).toBe("dependency failed");
    expect(reasonBeside("exited with 3", "failed")).toBe("exited with 3");
    // A reason that only starts with the same letters is a reason.
    expect(reasonBeside("failed to start: no such file", "failed")).toBe("failed to start: no such file");
  });
});

describe("stateAndReason (the engine's state_and_reason: the same cases)", () => {
  it("says the state once, with its reason", () => {
    expect(stateAndReason("completed", "completed")).toBe("completed");
    expect(stateAndReason(null, "completed")).toBe("completed");
    expect(stateAndReason("", "failed")).toBe("failed");
    expect(stateAndReason("completed, verified: make test passed", "completed")).toBe("completed, verified: make test passed");
    expect(stateAndReason("needs attention; dependency failed", "needs_attention")).toBe("needs_attention, dependency failed");
    expect(stateAndReason("exited with 3", "failed")).toBe("failed: exited with 3");
  });
});
