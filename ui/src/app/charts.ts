// Chart.js, registered piece by piece (only what the views use). The chart
// objects live here, outside Alpine's reactive state.

import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Filler,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from "chart.js";
import { axisClock } from "../logic/format";
import type { Point } from "../logic/series";

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, BarController, BarElement, Filler, Tooltip);
Chart.defaults.font.family = 'ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
Chart.defaults.animation = false;

/**
 * Axis text and grid colours of the theme shown when a chart is made (the
 * Overview's charts are made each time the page opens): axis text at WCAG
 * AA on the card in both themes.
 */
function themeColors(): { text: string; grid: string } {
  const dark = typeof document !== "undefined" && document.documentElement.classList.contains("dark");
  return dark ? { text: "#a3b1c6", grid: "#1e293b" } : { text: "#5a6a80", grid: "#eef2f7" };
}

export interface LineSpec {
  color: string;
  fill: string;
  /** Fixed y range (success rate: 0..100). */
  yMax?: number;
  suffix?: string;
  integer?: boolean;
}

function lineConfig(spec: LineSpec): ChartConfiguration<"line", { x: number; y: number }[]> {
  return {
    type: "line",
    data: {
      datasets: [
        {
          data: [],
          borderColor: spec.color,
          backgroundColor: spec.fill,
          fill: true,
          tension: 0.25,
          pointRadius: 0,
          pointHitRadius: 8,
          borderWidth: 2,
          stepped: spec.integer ? "before" : false,
        },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      scales: {
        x: {
          type: "linear",
          bounds: "data",
          // No labels until there is a line to place in time.
          ticks: {
            display: false,
            callback(v) {
              return axisClock(Number(v), this.max - this.min);
            },
            maxTicksLimit: 6,
            maxRotation: 0,
          },
          grid: { display: false },
        },
        y: {
          beginAtZero: true,
          max: spec.yMax,
          suggestedMax: spec.yMax ? undefined : 4,
          ticks: {
            precision: spec.integer ? 0 : undefined,
            callback: (v) => `${v}${spec.suffix ?? ""}`,
          },
          grid: { color: themeColors().grid },
        },
      },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: (items) => (items[0] ? axisClock(Number(items[0].parsed.x), 0) : ""),
            label: (item) => `${Math.round(Number(item.parsed.y) * 10) / 10}${spec.suffix ?? ""}`,
          },
        },
      },
    },
  };
}

export class LineChart {
  private chart: Chart<"line", { x: number; y: number }[]>;
  constructor(canvas: HTMLCanvasElement, spec: LineSpec) {
    Chart.defaults.color = themeColors().text;
    this.chart = new Chart(canvas, lineConfig(spec));
  }
  set(points: Point[]): void {
    // A lone point draws nothing on a line chart: repeat it at "now".
    const data = points.map((p) => ({ x: p.t, y: p.v }));
    if (data.length === 1) data.push({ x: Math.max(Date.now(), data[0].x + 1000), y: data[0].y });
    this.chart.data.datasets[0].data = data;
    const x = this.chart.options.scales?.x;
    if (x?.ticks) x.ticks.display = data.length > 0;
    this.chart.update("none");
  }
  destroy(): void {
    this.chart.destroy();
  }
}

export class BarChart {
  private chart: Chart<"bar", number[], string>;
  constructor(canvas: HTMLCanvasElement) {
    Chart.defaults.color = themeColors().text;
    this.chart = new Chart(canvas, {
      type: "bar",
      data: { labels: [], datasets: [{ data: [], backgroundColor: "#6366f1", borderRadius: 4, maxBarThickness: 28 }] },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { beginAtZero: true, ticks: { precision: 0 }, grid: { color: themeColors().grid } },
          y: { grid: { display: false } },
        },
        plugins: { legend: { display: false } },
      },
    });
  }
  set(labels: string[], counts: number[]): void {
    this.chart.data.labels = labels;
    this.chart.data.datasets[0].data = counts;
    this.chart.update("none");
  }
  destroy(): void {
    this.chart.destroy();
  }
}
