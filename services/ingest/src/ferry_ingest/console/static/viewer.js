// The parsed-content viewer: a table per sheet, page by page, or the text of each page.

import * as api from "./api.js";
import { fill, formatCell, h } from "./dom.js";
import { JobsPanel } from "./jobs.js";

const ROWS_PER_PAGE = 50;
const PAGES_PER_PAGE = 5;

export class Viewer {
  constructor(root) {
    this.root = root;
    this.title = root.querySelector("#viewer-title");
    this.meta = root.querySelector("#viewer-meta");
    this.sheetField = root.querySelector("#viewer-sheet-field");
    this.sheet = root.querySelector("#viewer-sheet");
    this.body = root.querySelector("#viewer-body");
    this.position = root.querySelector("#viewer-position");
    this.prev = root.querySelector("#viewer-prev");
    this.next = root.querySelector("#viewer-next");
    this.jobs = new JobsPanel(root.querySelector("#jobs"));
    this.record = null;
    this.opener = null;
    this.offset = 0;
    this.limit = ROWS_PER_PAGE;
    root.querySelector("#viewer-close").addEventListener("click", () => this.close());
    root.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
    this.sheet.addEventListener("change", () => {
      this.offset = 0;
      this.load();
    });
    this.prev.addEventListener("click", () => this.turn(-1));
    this.next.addEventListener("click", () => this.turn(1));
  }

  get fileId() {
    return this.root.hidden ? null : this.record?.file_id;
  }

  async open(record, opener) {
    this.opener = opener;
    this.offset = 0;
    this.root.hidden = false;
    fill(this.title, record.filename);
    fill(this.meta, "Loading…");
    fill(this.body);
    this.title.focus();
    try {
      this.record = await api.getFile(record.file_id);
    } catch (error) {
      fill(this.meta, `Could not open ${record.filename}: ${error.message}`);
      return;
    }
    const summary = this.record.summary || { kind: "table", sheets: [] };
    this.limit = summary.kind === "table" ? ROWS_PER_PAGE : PAGES_PER_PAGE;
    fill(this.meta, describe(summary));
    const sheets = summary.sheets || [];
    fill(this.sheet, ...sheets.map((sheet) => h("option", { value: sheet.name }, sheet.name || "(unnamed)")));
    this.sheetField.hidden = sheets.length < 2;
    this.jobs.open(this.record);
    await this.load();
  }

  close() {
    if (this.root.hidden) return;
    this.root.hidden = true;
    this.record = null;
    if (this.opener?.isConnected) this.opener.focus();
    else document.getElementById("filter-q")?.focus();
  }

  turn(direction) {
    this.offset = Math.max(0, this.offset + direction * this.limit);
    this.load();
  }

  async load() {
    const record = this.record;
    if (!record) return;
    const params = { offset: this.offset, limit: this.limit };
    if (!this.sheetField.hidden && this.sheet.value) params.sheet = this.sheet.value;
    this.root.setAttribute("aria-busy", "true");
    try {
      const page = await api.getContent(record.file_id, params);
      if (record !== this.record) return;
      if (page.kind === "table") this.showTable(page);
      else this.showPages(page);
      const count = page.kind === "table" ? page.rows.length : page.pages.length;
      const unit = page.kind === "table" ? "Rows" : "Pages";
      const first = page.total ? page.offset + 1 : 0;
      fill(this.position, `${unit} ${first}–${page.offset + count} of ${page.total}`);
      this.prev.disabled = page.offset === 0;
      this.next.disabled = page.offset + count >= page.total;
    } catch (error) {
      fill(this.body, h("p", { class: "error-text" }, `Could not load the content: ${error.message}`));
    } finally {
      this.root.removeAttribute("aria-busy");
    }
  }

  showTable(page) {
    const types = columnTypes(this.record.summary, page.sheet);
    const caption = page.sheet ? `${this.record.filename}, sheet ${page.sheet}` : this.record.filename;
    const table = h(
      "table",
      { class: "content-table" },
      h("caption", {}, `${caption}: rows ${page.offset + 1} to ${page.offset + page.rows.length}`),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col", class: "number" }, "#"),
          page.columns.map((name) =>
            h("th", { scope: "col" }, name, types[name] ? h("span", { class: "column-type" }, types[name]) : null),
          ),
        ),
      ),
      h(
        "tbody",
        {},
        page.rows.map((values, index) =>
          h(
            "tr",
            {},
            h("th", { scope: "row", class: "number" }, String(page.offset + index + 1)),
            values.map((value) => h("td", { class: typeof value === "number" ? "number" : null }, formatCell(value))),
          ),
        ),
      ),
    );
    fill(
      this.body,
      h("div", { class: "table-scroll", tabindex: 0, role: "region", "aria-label": `Content of ${caption}` }, table),
    );
  }

  showPages(page) {
    const pages = page.pages.map((item, index) => {
      const number = item.number ?? page.offset + index + 1;
      const text = typeof item.text === "string" ? item.text : JSON.stringify(item, null, 2);
      return h(
        "article",
        { class: "page", "aria-labelledby": `page-${number}` },
        h("h3", { id: `page-${number}` }, `Page ${number}`),
        h("pre", { class: "page-text" }, text || "(no text on this page)"),
      );
    });
    fill(this.body, pages.length ? pages : h("p", {}, "No pages."));
  }
}

function describe(summary) {
  const parts = [summary.kind];
  if (summary.kind === "table") {
    parts.push(`${(summary.rows ?? 0).toLocaleString()} rows`);
    if (summary.columns?.length) parts.push(`${summary.columns.length} columns`);
    if (summary.sheets?.length > 1) parts.push(`${summary.sheets.length} sheets`);
  } else if (summary.pages) {
    parts.push(`${summary.pages} pages`);
  }
  return parts.join(" · ");
}

function columnTypes(summary, sheetName) {
  const sheet = summary?.sheets?.find((s) => s.name === sheetName);
  const columns = sheet?.columns?.length ? sheet.columns : summary?.columns || [];
  return Object.fromEntries(columns.map((column) => [column.name, column.type]));
}
