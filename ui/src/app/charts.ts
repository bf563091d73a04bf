// The Overview's line charts and the Routing page's bars, drawn on a canvas
// by hand: two kinds of chart need no chart library (Chart.js held about
// 8 MB of the web process for them). Where ticks go is decided in
// logic/chartScale.ts; this module only draws. The chart objects live
// here, outside Alpine's reactive state.

import { nearestIndex, timeTicks, valueTicks } from "../logic/chartScale";
import { axisClock } from "../logic/format";
import type { Point } from "../logic/series";

const FONT = '11px ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

/**
 * Axis text and grid colours of the theme shown when a chart is drawn: axis
 * text at WCAG AA on the card in both themes.
 */
function themeColors(): { text: string; grid: string } {
  const dark = typeof document !== "undefined" && document.documentElement.classList.contains("dark");
  return dark ? { text: "#a3b1c6", grid: "#1e293b" } : { text: "#5a6a80", grid: "#eef2f7" };
}

/** A canvas sized to its box (and the screen's pixel ratio), redrawn when the box changes. */
class Surface {
  readonly ctx: CanvasRenderingContext2D | null;
  width = 0;
  height = 0;
  private observer: ResizeObserver | null = null;

  constructor(
    readonly canvas: HTMLCanvasElement,
    draw: () => void,
  ) {
    this.ctx = canvas.getContext("2d");
    if (typeof ResizeObserver !== "undefined") {
      this.observer = new ResizeObserver(() => draw());
      this.observer.observe(canvas.parentElement ?? canvas);
    }
  }

  /** Fits the canvas to its box; false when there is nothing to draw on. */
  begin(): CanvasRenderingContext2D | null {
    const ctx = this.ctx;
    const box = this.canvas.parentElement ?? this.canvas;
    const w = box.clientWidth;
    const h = box.clientHeight;
    if (!ctx || w === 0 || h === 0) return null;
    const ratio = window.devicePixelRatio || 1;
    if (this.width !== w || this.height !== h || this.canvas.width !== Math.round(w * ratio)) {
      this.canvas.width = Math.round(w * ratio);
      this.canvas.height = Math.round(h * ratio);
      this.canvas.style.width = `${w}px`;
      this.canvas.style.height = `${h}px`;
      this.width = w;
      this.height = h;
    }
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = FONT;
    return ctx;
  }

  destroy(): void {
    this.observer?.disconnect();
  }
}

export interface LineSpec {
  color: string;
  fill: string;
  /** Fixed y range (success rate: 0..100). */
  yMax?: number;
  suffix?: string;
  integer?: boolean;
}

const round1 = (v: number) => Math.round(v * 10) / 10;

export class LineChart {
  private readonly surface: Surface;
  private points: Point[] = [];
  /** The pointer's x on the canvas, while it is over it. */
  private pointer: number | null = null;
  private readonly onMove = (e: MouseEvent) => {
    this.pointer = e.offsetX;
    this.draw();
  };
  private readonly onLeave = () => {
    this.pointer = null;
    this.draw();
  };

  constructor(
    canvas: HTMLCanvasElement,
    private readonly spec: LineSpec,
  ) {
    this.surface = new Surface(canvas, () => this.draw());
    canvas.addEventListener("mousemove", this.onMove);
    canvas.addEventListener("mouseleave", this.onLeave);
    this.draw();
  }

  set(points: Point[]): void {
    // A lone point draws nothing on a line: repeat it at "now".
    const data = points.slice();
    if (data.length === 1) data.push({ t: Math.max(Date.now(), data[0].t + 1000), v: data[0].v });
    this.points = data;
    this.draw();
  }

  private draw(): void {
    const ctx = this.surface.begin();
    if (!ctx) return;
    const { width: w, height: h } = this.surface;
    const colors = themeColors();
    const suffix = this.spec.suffix ?? "";
    const pts = this.points;
    const hi = pts.reduce((m, p) => Math.max(m, p.v), 0);
    const ticks = valueTicks(hi, {
      fixedMax: this.spec.yMax,
      suggestedMax: this.spec.yMax ? undefined : 4,
      integer: this.spec.integer,
    });
    const top = ticks[ticks.length - 1];
    const left = Math.ceil(Math.max(...ticks.map((v) => ctx.measureText(`${v}${suffix}`).width))) + 8;
    const bottom = pts.length > 0 ? 20 : 6;
    const plot = { x: left, y: 6, w: Math.max(1, w - left - 8), h: Math.max(1, h - bottom - 6) };
    const y = (v: number) => plot.y + plot.h - (v / top) * plot.h;

    ctx.fillStyle = colors.text;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.strokeStyle = colors.grid;
    ctx.lineWidth = 1;
    for (const v of ticks) {
      const yy = Math.round(y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(plot.x, yy);
      ctx.lineTo(plot.x + plot.w, yy);
      ctx.stroke();
      ctx.fillText(`${v}${suffix}`, plot.x - 6, yy);
    }
    if (pts.length === 0) return;

    const t0 = pts[0].t;
    const t1 = pts[pts.length - 1].t;
    const span = Math.max(1, t1 - t0);
    const x = (t: number) => plot.x + ((t - t0) / span) * plot.w;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const offset = -new Date(t0).getTimezoneOffset() * 60_000;
    for (const t of timeTicks(t0, t1, 6, offset)) {
      ctx.fillText(axisClock(t, t1 - t0), x(t), plot.y + plot.h + 5);
    }

    // The line (a count steps: it changes at a sample, not between two).
    ctx.beginPath();
    pts.forEach((p, i) => {
      if (i === 0) ctx.moveTo(x(p.t), y(p.v));
      else {
        if (this.spec.integer) ctx.lineTo(x(pts[i - 1].t), y(p.v));
        ctx.lineTo(x(p.t), y(p.v));
      }
    });
    ctx.strokeStyle = this.spec.color;
    ctx.lineWidth = 2;
    ctx.lineJoin = "round";
    ctx.stroke();
    ctx.lineTo(x(t1), y(0));
    ctx.lineTo(x(t0), y(0));
    ctx.closePath();
    ctx.fillStyle = this.spec.fill;
    ctx.fill();

    // Under the pointer: the nearest sample's time and value.
    if (this.pointer === null || this.pointer < plot.x) return;
    const t = t0 + ((this.pointer - plot.x) / plot.w) * span;
    const p = pts[nearestIndex(pts, t)];
    const px = x(p.t);
    ctx.strokeStyle = colors.text;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(Math.round(px) + 0.5, plot.y);
    ctx.lineTo(Math.round(px) + 0.5, plot.y + plot.h);
    ctx.stroke();
    ctx.fillStyle = this.spec.color;
    ctx.beginPath();
    ctx.arc(px, y(p.v), 3.5, 0, 2 * Math.PI);
    ctx.fill();
    const label = `${axisClock(p.t, 0)}  ${round1(p.v)}${suffix}`;
    const lw = ctx.measureText(label).width + 12;
    const lx = Math.min(Math.max(plot.x, px - lw / 2), plot.x + plot.w - lw);
    ctx.fillStyle = "rgba(15,23,42,0.9)";
    ctx.fillRect(lx, plot.y, lw, 20);
    ctx.fillStyle = "#f8fafc";
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.fillText(label, lx + 6, plot.y + 10);
  }

  destroy(): void {
    this.surface.canvas.removeEventListener("mousemove", this.onMove);
    this.surface.canvas.removeEventListener("mouseleave", this.onLeave);
    this.surface.destroy();
  }
}

export class BarChart {
  private readonly surface: Surface;
  private labels: string[] = [];
  private counts: number[] = [];

  constructor(canvas: HTMLCanvasElement) {
    this.surface = new Surface(canvas, () => this.draw());
    this.draw();
  }

  set(labels: string[], counts: number[]): void {
    this.labels = labels.slice();
    this.counts = counts.slice();
    this.draw();
  }

  private draw(): void {
    const ctx = this.surface.begin();
    if (!ctx) return;
    const { width: w, height: h } = this.surface;
    const colors = themeColors();
    const ticks = valueTicks(Math.max(0, ...this.counts), { integer: true });
    const top = ticks[ticks.length - 1];
    const left = Math.ceil(Math.max(0, ...this.labels.map((l) => ctx.measureText(l).width))) + 10;
    const plot = { x: left, y: 4, w: Math.max(1, w - left - 10), h: Math.max(1, h - 24) };
    const x = (v: number) => plot.x + (v / top) * plot.w;

    ctx.fillStyle = colors.text;
    ctx.strokeStyle = colors.grid;
    ctx.lineWidth = 1;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const v of ticks) {
      const xx = Math.round(x(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(xx, plot.y);
      ctx.lineTo(xx, plot.y + plot.h);
      ctx.stroke();
      ctx.fillText(String(v), xx, plot.y + plot.h + 6);
    }
    const n = this.labels.length;
    if (n === 0) return;
    const band = plot.h / n;
    const bar = Math.min(28, band * 0.8);
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    this.labels.forEach((label, i) => {
      const mid = plot.y + band * (i + 0.5);
      ctx.fillStyle = colors.text;
      ctx.fillText(label, plot.x - 6, mid);
      const len = x(this.counts[i] ?? 0) - plot.x;
      if (len <= 0) return;
      ctx.fillStyle = "#6366f1";
      ctx.beginPath();
      if (typeof ctx.roundRect === "function") ctx.roundRect(plot.x, mid - bar / 2, len, bar, 4);
      else ctx.rect(plot.x, mid - bar / 2, len, bar);
      ctx.fill();
    });
  }

  destroy(): void {
    this.surface.destroy();
  }
}
