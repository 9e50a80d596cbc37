// The analytics view, drawn with Chart.js (vendored; window.Chart): the caller's uploads in the active
// organization (GET /analytics/me) and, for its admins and owners, the organization's storage per member
// and slowest formats (GET /analytics/org).

import * as api from "./api.js";
import { debounce, fill, formatBytes } from "./dom.js";

const DAY_MS = 86_400_000;
const PALETTE = ["#0b5cad", "#1e6b34", "#8a5a00", "#b3261e", "#6b3fa0", "#00838f", "#c2185b", "#546070"];
const OUTCOMES = [
  ["parsed", "Parsed", "#1e6b34"],
  ["failed", "Failed", "#b3261e"],
  ["cancelled", "Cancelled", "#8a5a00"],
];

const periodLabel = (iso, granularity) => (granularity === "month" ? iso.slice(0, 7) : iso.slice(0, 10));
const percent = (rate) => (rate === null || rate === undefined ? "–" : `${(rate * 100).toFixed(1)}%`);

function baseOptions() {
  const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  return { responsive: true, maintainAspectRatio: false, animation: still ? false : { duration: 300 } };
}

export class Analytics {
  /** root: the analytics view; orgs: the OrgSwitcher (who may see the organization's figures). */
  constructor(root, { orgs }) {
    this.root = root;
    this.orgs = orgs;
    this.charts = new Map();
    this.range = root.querySelector("#analytics-range");
    this.summary = root.querySelector("#analytics-summary");
    this.error = root.querySelector("#analytics-error");
    this.orgSection = root.querySelector("#org-analytics");
    this.orgSummary = root.querySelector("#org-analytics-summary");
    this.range.addEventListener("change", () => this.refresh());
    // After uploads finish: the server caches figures for a few seconds, so a little later.
    this.refreshSoon = debounce(() => this.refresh(), 1_500);
  }

  get visible() {
    return !this.root.hidden;
  }

  async refresh() {
    const [days, granularity] = this.range.value.split(":");
    const to = new Date();
    const params = { from: new Date(to - Number(days) * DAY_MS).toISOString(), to: to.toISOString(), granularity };
    this.root.setAttribute("aria-busy", "true");
    try {
      const mine = await api.analytics("me", params);
      this.drawMine(mine, days);
      this.orgSection.hidden = !this.orgs.manages;
      if (this.orgs.manages) {
        const [overview, members] = await Promise.all([
          api.analytics("org", { ...params, limit: 20 }),
          api.listMembers(mine.org_id).catch(() => []),
        ]);
        this.drawOrg(overview, members); // once shown: a chart sizes itself to its box
      }
      this.error.hidden = true;
    } catch (error) {
      this.error.hidden = false;
      fill(this.error, `Analytics could not be loaded: ${error.message}`);
    } finally {
      this.root.setAttribute("aria-busy", "false");
    }
  }

  drawMine(mine, days) {
    const { totals, parse, granularity } = mine;
    fill(
      this.summary,
      `${totals.files} files (${formatBytes(totals.bytes)}) uploaded in the last ${days} days; ` +
        `${percent(parse.success_rate)} of those finished were parsed.`,
    );
    const labels = mine.uploads.map((p) => periodLabel(p.period_start, granularity));
    this.draw("chart-uploads", {
      type: "bar",
      data: {
        labels,
        datasets: [
          {
            label: "Files uploaded",
            data: mine.uploads.map((p) => p.files),
            bytes: mine.uploads.map((p) => p.bytes),
            backgroundColor: PALETTE[0],
          },
        ],
      },
      options: {
        ...baseOptions(),
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { afterLabel: (c) => formatBytes(c.dataset.bytes[c.dataIndex]) } },
        },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
    const busiest = mine.uploads.reduce((best, p) => (p.files > (best?.files ?? 0) ? p : best), null);
    this.describe(
      "chart-uploads",
      busiest ? `most in ${periodLabel(busiest.period_start, granularity)}: ${busiest.files}` : "none",
    );

    this.draw("chart-formats", {
      type: "doughnut",
      data: {
        labels: mine.formats.map((f) => f.format),
        datasets: [
          {
            label: "Files",
            data: mine.formats.map((f) => f.files),
            backgroundColor: mine.formats.map((_, i) => PALETTE[i % PALETTE.length]),
          },
        ],
      },
      options: { ...baseOptions(), plugins: { legend: { position: "right" } } },
    });
    this.describe("chart-formats", mine.formats.map((f) => `${f.format} ${f.files}`).join(", ") || "none");

    this.draw("chart-success", {
      type: "doughnut",
      data: {
        labels: OUTCOMES.map(([, name]) => name),
        datasets: [
          {
            label: "Files",
            data: OUTCOMES.map(([key]) => parse[key]),
            backgroundColor: OUTCOMES.map(([, , color]) => color),
          },
        ],
      },
      options: { ...baseOptions(), plugins: { legend: { position: "right" } } },
    });
    fill(this.root.querySelector("#caption-success"), `Parse success rate: ${percent(parse.success_rate)}`);
    this.describe("chart-success", OUTCOMES.map(([key, name]) => `${name} ${parse[key]}`).join(", "));
  }

  drawOrg(overview, members) {
    const names = new Map(members.map((m) => [m.user_id, m.username]));
    fill(
      this.orgSummary,
      `${overview.totals.files} files (${formatBytes(overview.totals.bytes)}) in the organization; ` +
        `members with files: ${overview.member_count}; inactive for ${overview.inactive_days} days or more: ${overview.inactive_count}.`,
    );
    const top = overview.top_members;
    this.draw("chart-members", {
      type: "bar",
      data: {
        labels: top.map((m) => names.get(m.user_id) || m.user_id),
        datasets: [
          {
            label: "Bytes stored",
            data: top.map((m) => m.bytes),
            files: top.map((m) => m.files),
            backgroundColor: PALETTE[0],
          },
        ],
      },
      options: {
        ...baseOptions(),
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: (c) => formatBytes(c.parsed.y),
              afterLabel: (c) => `${c.dataset.files[c.dataIndex]} files`,
            },
          },
        },
        scales: { y: { beginAtZero: true, ticks: { callback: (value) => formatBytes(value) } } },
      },
    });
    this.describe(
      "chart-members",
      top.map((m) => `${names.get(m.user_id) || m.user_id} ${formatBytes(m.bytes)}`).join(", ") || "none",
    );

    const slow = overview.slowest_formats;
    this.draw("chart-slowest", {
      type: "bar",
      data: {
        labels: slow.map((f) => f.format),
        datasets: [
          { label: "Mean", data: slow.map((f) => f.mean_ms), backgroundColor: PALETTE[0] },
          { label: "95th percentile", data: slow.map((f) => f.p95_ms), backgroundColor: PALETTE[2] },
        ],
      },
      options: { ...baseOptions(), indexAxis: "y", scales: { x: { beginAtZero: true } } },
    });
    this.describe("chart-slowest", slow.map((f) => `${f.format} ${Math.round(f.mean_ms)} ms`).join(", ") || "none");
  }

  /** A chart on the canvas `id`: made once, then given new data. */
  draw(id, config) {
    const existing = this.charts.get(id);
    if (existing) {
      existing.data = config.data;
      existing.options = config.options;
      existing.update();
      return;
    }
    this.charts.set(id, new window.Chart(this.root.querySelector(`#${id}`), config));
  }

  /** What a chart shows, in words, for screen readers (the canvas itself is only pixels). */
  describe(id, text) {
    const canvas = this.root.querySelector(`#${id}`);
    canvas.dataset.caption ||= canvas.getAttribute("aria-labelledby");
    canvas.removeAttribute("aria-labelledby");
    const caption = document.getElementById(canvas.dataset.caption);
    canvas.setAttribute("aria-label", `${caption.textContent}: ${text}`);
  }
}
