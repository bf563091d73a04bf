// A unified diff (as `git diff` writes it) parsed into files, hunks and
// numbered lines, so the Changes tab can colour and number it without
// touching the text. Pure: no DOM.

export type DiffLineKind = "add" | "del" | "ctx" | "note";

export interface DiffLine {
  kind: DiffLineKind;
  /** The line without its leading +, - or space. */
  text: string;
  /** Line number in the old file (none for an added line or a note). */
  oldNo: number | null;
  /** Line number in the new file (none for a removed line or a note). */
  newNo: number | null;
}

export interface DiffHunk {
  /** The `@@ -a,b +c,d @@ context` line. */
  header: string;
  lines: DiffLine[];
}

export type FileStatus = "added" | "deleted" | "modified" | "renamed" | "binary";

export interface DiffFile {
  /** The path in the new tree (the old one for a deleted file). */
  path: string;
  /** The path before a rename. */
  oldPath: string | null;
  status: FileStatus;
  added: number;
  removed: number;
  hunks: DiffHunk[];
}

const HUNK = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/;

/** `a/x` or `b/x` to `x`; `/dev/null` to null; quoted names unquoted. */
function pathOf(raw: string): string | null {
  let p = raw.trim();
  if (p.startsWith('"') && p.endsWith('"')) p = p.slice(1, -1).replace(/\\(["\\])/g, "$1");
  if (p === "/dev/null") return null;
  return p.replace(/^[ab]\//, "");
}

/** The paths named on a `diff --git a/x b/x` line (exact when both are equal). */
function pathsOfHeader(line: string): { a: string; b: string } {
  const rest = line.slice("diff --git ".length);
  const half = (rest.length - 1) / 2;
  if (Number.isInteger(half) && rest[half] === " " && rest.slice(2, half) === rest.slice(half + 3)) {
    const p = rest.slice(2, half);
    return { a: p, b: p };
  }
  const m = /^(.*) (b\/.*)$/.exec(rest);
  return m ? { a: pathOf(m[1]) ?? "", b: pathOf(m[2]) ?? "" } : { a: rest, b: rest };
}

/** Parses a unified diff of any number of files. Text that is not a diff gives no files. */
export function parseUnifiedDiff(patch: string): DiffFile[] {
  const files: DiffFile[] = [];
  let file: DiffFile | null = null;
  let hunk: DiffHunk | null = null;
  let oldNo = 0;
  let newNo = 0;
  const lines = patch.split("\n");
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  for (const line of lines) {
    if (line.startsWith("diff --git ")) {
      const { a, b } = pathsOfHeader(line);
      file = { path: b, oldPath: a !== b ? a : null, status: a !== b ? "renamed" : "modified", added: 0, removed: 0, hunks: [] };
      files.push(file);
      hunk = null;
      continue;
    }
    if (!file) continue;
    const m = HUNK.exec(line);
    if (m) {
      hunk = { header: line, lines: [] };
      file.hunks.push(hunk);
      oldNo = Number(m[1]);
      newNo = Number(m[2]);
      continue;
    }
    if (!hunk) {
      if (line.startsWith("new file mode")) file.status = "added";
      else if (line.startsWith("deleted file mode")) file.status = "deleted";
      else if (line.startsWith("rename from ")) { file.oldPath = line.slice(12); file.status = "renamed"; }
      else if (line.startsWith("rename to ")) file.path = line.slice(10);
      else if (line.startsWith("Binary files ") || line === "GIT binary patch") file.status = "binary";
      else if (line.startsWith("--- ")) {
        const p = pathOf(line.slice(4));
        if (p === null) file.status = "added";
      } else if (line.startsWith("+++ ")) {
        const p = pathOf(line.slice(4));
        if (p === null) file.status = "deleted";
        else file.path = p;
      }
      continue;
    }
    const sign = line[0];
    if (sign === "+") {
      hunk.lines.push({ kind: "add", text: line.slice(1), oldNo: null, newNo: newNo++ });
      file.added++;
    } else if (sign === "-") {
      hunk.lines.push({ kind: "del", text: line.slice(1), oldNo: oldNo++, newNo: null });
      file.removed++;
    } else if (sign === "\\") {
      hunk.lines.push({ kind: "note", text: line.slice(1).trim(), oldNo: null, newNo: null });
    } else {
      hunk.lines.push({ kind: "ctx", text: line.slice(1), oldNo: oldNo++, newNo: newNo++ });
    }
  }
  for (const f of files) if (f.status === "deleted" && f.oldPath) f.path = f.oldPath;
  return files;
}

/** The CSS class a line is drawn with (the theme gives each its colours). */
export function lineClass(kind: DiffLineKind): string {
  return { add: "diff-add", del: "diff-del", ctx: "diff-ctx", note: "diff-note" }[kind];
}

/** The one-character mark shown before a line, for readers without colour. */
export function lineMark(kind: DiffLineKind): string {
  return { add: "+", del: "-", ctx: " ", note: "\\" }[kind];
}
