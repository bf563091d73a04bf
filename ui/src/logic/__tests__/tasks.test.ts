import { describe, expect, it } from "vitest";
import { lastWorkdir } from "../tasks";

describe("the folder a new task starts with", () => {
  it("is the newest task's folder, never a guess", () => {
    const tasks = [
      { workdir: "/src/app", created_at: "2026-12-01T10:00:00Z" },
      { workdir: "/src/api", created_at: "2026-12-02T10:00:00Z" },
      { workdir: undefined, created_at: "2026-12-03T10:00:00Z" },
    ];
    expect(lastWorkdir(tasks)).toBe("/src/api");
    expect(lastWorkdir([])).toBe("");
    expect(lastWorkdir([{ workdir: undefined, created_at: "2026-12-03T10:00:00Z" }])).toBe("");
  });
});
