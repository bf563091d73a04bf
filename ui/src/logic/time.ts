// Timestamps from the engine are RFC 3339 with 0 to 9 fractional digits
// (chrono). Date.parse keeps milliseconds only, so ordering two updates within
// the same millisecond needs the rest of the fraction.

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:?\d{2})$/i;

interface Instant {
  ms: number;
  /** Nanoseconds below the millisecond, 0..999999. */
  subNanos: number;
}

function parseInstant(iso: string | null | undefined): Instant | null {
  if (!iso) return null;
  const m = RFC3339.exec(iso.trim());
  if (!m) {
    const ms = Date.parse(iso);
    return Number.isNaN(ms) ? null : { ms, subNanos: 0 };
  }
  const frac = (m[2] ?? "").padEnd(9, "0").slice(0, 9);
  const base = Date.parse(`${m[1]}.${frac.slice(0, 3)}${m[3].toUpperCase()}`);
  if (Number.isNaN(base)) return null;
  return { ms: base, subNanos: Number(frac.slice(3)) };
}

/** Milliseconds since the epoch, or NaN when the text is not a time. */
export function parseTime(iso: string | null | undefined): number {
  const i = parseInstant(iso);
  return i ? i.ms : Number.NaN;
}

/**
 * Orders two timestamps at full precision: negative when a is earlier.
 * A missing or unreadable time sorts before any real one.
 */
export function compareTime(a: string | null | undefined, b: string | null | undefined): number {
  const x = parseInstant(a);
  const y = parseInstant(b);
  if (!x && !y) return 0;
  if (!x) return -1;
  if (!y) return 1;
  if (x.ms !== y.ms) return x.ms < y.ms ? -1 : 1;
  return x.subNanos === y.subNanos ? 0 : x.subNanos < y.subNanos ? -1 : 1;
}
