import { describe, expect, it } from "vitest";
import { lineClass, lineMark, parseUnifiedDiff } from "../diff";

const PATCH = [
  "diff --git a/README b/README",
  "index 5626abf..f719efd 100644",
  "--- a/README",
  "+++ b/README",
  "@@ -1,3 +1,3 @@ intro",
  " one",
  "-two",
  "+deux",
  " three",
  "@@ -10,2 +10,3 @@",
  " ten",
  "+ten and a half",
  " eleven",
  "\\ No newline at end of file",
  "diff --git a/notes/new file.txt b/notes/new file.txt",
  "new file mode 100644",
  "index 0000000..3b18e51",
  "--- /dev/null",
  "+++ b/notes/new file.txt",
  "@@ -0,0 +1 @@",
  "+hello world",
  "diff --git a/old.txt b/old.txt",
  "deleted file mode 100644",
  "--- a/old.txt",
  "+++ /dev/null",
  "@@ -1 +0,0 @@",
  "-bye",
  "diff --git a/logo.png b/logo.png",
  "new file mode 100644",
  "Binary files /dev/null and b/logo.png differ",
  "",
].join("\n");

describe("parseUnifiedDiff", () => {
  const files = parseUnifiedDiff(PATCH);

  it("finds every file with its status and counts", () => {
    expect(files.map((f) => [f.path, f.status, f.added, f.removed])).toEqual([
      ["README", "modified", 2, 1],
      ["notes/new file.txt", "added", 1, 0],
      ["old.txt", "deleted", 0, 1],
      ["logo.png", "binary", 0, 0],
    ]);
  });

  it("numbers old and new lines through every hunk", () => {
    const [first, second] = files[0].hunks;
    expect(first.header).toBe("@@ -1,3 +1,3 @@ intro");
    expect(first.lines.map((l) => [l.kind, l.oldNo, l.newNo, l.text])).toEqual([
      ["ctx", 1, 1, "one"],
      ["del", 2, null, "two"],
      ["add", null, 2, "deux"],
      ["ctx", 3, 3, "three"],
    ]);
    expect(second.lines.map((l) => [l.kind, l.oldNo, l.newNo])).toEqual([
      ["ctx", 10, 10],
      ["add", null, 11],
      ["ctx", 11, 12],
      ["note", null, null],
    ]);
  });

  it("gives no files for text that is not a diff, and keeps the lines' text as it is", () => {
    expect(parseUnifiedDiff("")).toEqual([]);
    expect(parseUnifiedDiff("fatal: not a git repository\n")).toEqual([]);
    const odd = parseUnifiedDiff("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-<script>\n+ a  b\n");
    expect(odd[0].hunks[0].lines.map((l) => l.text)).toEqual(["<script>", " a  b"]);
  });

  it("follows a rename", () => {
    const r = parseUnifiedDiff("diff --git a/a.txt b/b.txt\nsimilarity index 100%\nrename from a.txt\nrename to b.txt\n");
    expect(r[0]).toMatchObject({ path: "b.txt", oldPath: "a.txt", status: "renamed" });
  });

  it("marks lines for readers with and without colour", () => {
    expect(["add", "del", "ctx", "note"].map((k) => lineClass(k as never) + lineMark(k as never))).toEqual([
      "diff-add+", "diff-del-", "diff-ctx ", "diff-note\\",
    ]);
  });
});
