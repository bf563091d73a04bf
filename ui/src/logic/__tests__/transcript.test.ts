import { describe, expect, it } from "vitest";
import type { TranscriptEntry } from "../../types";
import { compactTranscript, emptyTranscript, entryStyle, matchKeys, matchLabel } from "../transcript";
import { worker } from "./fixtures";

const e = (attempt: number, kind: TranscriptEntry["kind"], text: string): TranscriptEntry => ({ attempt, kind, text });

const entries = [
  e(1, "session", "session 5f0c, model opus"),
  e(1, "assistant", "I will read the file.\nThen fix it."),
  e(1, "tool_call", "Read src/login.ts"),
  e(1, "tool_result", "export function login() {\n  return TOKEN;\n}"),
  e(1, "tool_call", "Bash npm test"),
  e(2, "tool_error", "exit 1: 3 failing"),
  e(2, "tool_call", "Bash npm test"),
  e(2, "tool_error", "exit 1: 3 failing"),
  e(2, "result", "Done: login fixed"),
];

describe("compact transcript", () => {
  it("folds each tool call's result into it and keeps other entries as single lines", () => {
    const lines = compactTranscript(entries);
    expect(lines.map((l) => [l.kind, l.summary, l.result?.kind ?? null])).toEqual([
      ["session", "session 5f0c, model opus", null],
      ["assistant", "I will read the file.", null],
      ["tool_call", "Read src/login.ts", "tool_result"],
      // A result of another attempt does not belong to this call.
      ["tool_call", "Bash npm test", null],
      ["tool_error", "exit 1: 3 failing", null],
      ["tool_call", "Bash npm test", "tool_error"],
      ["result", "Done: login fixed", null],
    ]);
    expect(lines[2].result).toMatchObject({ summary: "export function login() {", isError: false });
    expect(lines[5].result?.isError).toBe(true);
  });

  it("marks the lines whose text or folded result contains the query", () => {
    const lines = compactTranscript(entries, "TOKEN");
    expect(matchKeys(lines)).toEqual([lines[2].key]);
    expect(matchKeys(compactTranscript(entries, "failing")).length).toBe(2);
    expect(matchKeys(compactTranscript(entries, "  "))).toEqual([]);
  });

  it("says output left out as such, not as output", () => {
    const [l] = compactTranscript([e(1, "left_out", "42.0 MB of attempt 1's output before this is left out")]);
    expect(l.style.label).toBe("left out");
    expect(entryStyle("left_out")).not.toBe(entryStyle("other"));
  });

  it("shortens a long first line and cuts a long entry", () => {
    const long = "x".repeat(500);
    const [l] = compactTranscript([e(1, "assistant", long)], "", 100);
    expect(l.summary.length).toBe(160);
    expect(l.text.length).toBe(100);
  });
});

describe("matchLabel", () => {
  it("counts the matches, then says which one is shown", () => {
    expect(matchLabel("  ", 3, -1)).toBe("");
    expect(matchLabel("fake-out", 0, -1)).toBe("no match");
    expect(matchLabel("fake-out", 8, -1)).toBe("8 matches");
    expect(matchLabel("fake-out", 1, -1)).toBe("1 match");
    expect(matchLabel("fake-out", 8, 0)).toBe("1 of 8");
    expect(matchLabel("fake-out", 8, 7)).toBe("8 of 8");
  });
});

describe("an empty transcript", () => {
  it("says why an ended worker printed nothing, and that a live one has not yet", () => {
    const failed = worker({ state: "failed", reason: "agent command `claude` was not found" });
    expect(emptyTranscript(failed, false)).toBe("No output: failed: agent command `claude` was not found");
    expect(emptyTranscript(worker({ state: "running" }), false)).toBe("No output yet.");
    expect(emptyTranscript(failed, true)).toBe("Loading the transcript…");
    expect(emptyTranscript(worker({ state: "completed", reason: "completed" }), false)).toBe("No output: completed");
    // Not read (an error, or another worker's still shown): nothing is claimed.
    expect(emptyTranscript(failed, false, false)).toBe("");
  });
});
