// The file list: filters (status, type, name), a page of files, and what can be done with each.

import * as api from "./api.js";
import { announce, debounce, fill, formatBytes, formatTime, h } from "./dom.js";

const PAGE_SIZE = 20;
const ACTIVE = new Set(["queued", "parsing"]);

export class FileList {
  /** root: the files <section>; onView(record, opener) opens the content viewer; onGone(fileId). */
  constructor(root, { onView, onGone }) {
    this.root = root;
    this.onView = onView;
    this.onGone = onGone;
    this.offset = 0;
    this.total = 0;
    this.records = new Map();
    this.form = root.querySelector("#filters");
    this.status = root.querySelector("#filter-status");
    this.type = root.querySelector("#filter-type");
    this.search = root.querySelector("#filter-q");
    this.body = root.querySelector("#files-body");
    this.summary = root.querySelector("#files-summary");
    this.prev = root.querySelector("#files-prev");
    this.next = root.querySelector("#files-next");
    this.table = root.querySelector("#files-table");
    this.empty = root.querySelector("#files-empty");

    const again = () => {
      this.offset = 0;
      this.refresh();
    };
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      again();
    });
    this.status.addEventListener("change", again);
    this.type.addEventListener("change", again);
    this.search.addEventListener("input", debounce(again, 300));
    this.prev.addEventListener("click", () => this.turn(-PAGE_SIZE));
    this.next.addEventListener("click", () => this.turn(PAGE_SIZE));
    this.refreshSoon = debounce(() => this.refresh(), 400);
  }

  turn(delta) {
    this.offset = Math.max(0, this.offset + delta);
    this.refresh();
  }

  async refresh() {
    const q = this.search.value.trim();
    const filters = { status: this.status.value, file_type: this.type.value };
    const params = { limit: PAGE_SIZE, offset: this.offset };
    this.root.setAttribute("aria-busy", "true");
    try {
      // Name search alone has its own endpoint; with other filters, q is one more filter.
      const page =
        q && !filters.status && !filters.file_type
          ? await api.searchFiles({ ...params, q })
          : await api.listFiles({ ...params, ...filters, q });
      if (page.items.length === 0 && this.offset > 0 && page.total > 0) {
        this.turn(-PAGE_SIZE);
        return;
      }
      this.render(page);
    } catch (error) {
      fill(this.summary, `Could not load files: ${error.message}`);
    } finally {
      this.root.removeAttribute("aria-busy");
    }
  }

  render(page) {
    this.total = page.total;
    this.records = new Map(page.items.map((record) => [record.file_id, record]));
    fill(this.body, ...page.items.map((record) => this.row(record)));
    const first = page.total ? page.offset + 1 : 0;
    const last = page.offset + page.items.length;
    fill(this.summary, page.total ? `Files ${first}–${last} of ${page.total}` : "No files");
    this.table.hidden = page.items.length === 0;
    this.empty.hidden = page.items.length > 0;
    this.prev.disabled = page.offset === 0;
    this.next.disabled = last >= page.total;
  }

  row(record) {
    const name = record.filename;
    const buttons = [];
    if (record.status === "parsed") {
      buttons.push(button("View", `View ${name}`, (event) => this.onView(record, event.currentTarget)));
    }
    if (record.status !== "uploading") {
      buttons.push(button("Download", `Download ${name}`, (event) => this.download(record, event.currentTarget)));
    }
    if (ACTIVE.has(record.status)) {
      buttons.push(button("Cancel", `Cancel parsing ${name}`, () => this.cancel(record)));
    }
    buttons.push(button("Delete", `Delete ${name}`, () => this.remove(record), "danger"));
    return h(
      "tr",
      { dataset: { fileId: record.file_id, status: record.status } },
      h("th", { scope: "row", class: "filename" }, name),
      h("td", {}, record.format || record.content_type),
      h("td", { class: "number" }, formatBytes(record.size)),
      h("td", { class: "status-cell" }, statusBadge(record)),
      h("td", {}, h("time", { datetime: record.updated_at }, formatTime(record.updated_at))),
      h("td", { class: "actions" }, h("div", { class: "action-group" }, buttons)),
    );
  }

  /** A notifier message: update the row it concerns, or reload when a new file appears. */
  handle(message) {
    const fileId = message.data?.file_id;
    if (!fileId) return;
    const record = this.records.get(fileId);
    if (message.type === "file_deleted") {
      if (record) this.refreshSoon();
      return;
    }
    if (!record) {
      this.refreshSoon();
      return;
    }
    const data = message.data;
    const statusChanged = data.status !== record.status;
    Object.assign(record, { status: data.status, progress: data.progress, error: data.error ?? record.error });
    const tr = this.body.querySelector(`tr[data-file-id="${CSS.escape(fileId)}"]`);
    if (!tr) return;
    if (statusChanged) {
      // New status, new actions (View once parsed, no Cancel once done): reload the page of files.
      this.refreshSoon();
    }
    fill(tr.querySelector(".status-cell"), statusBadge(record));
    tr.dataset.status = record.status;
  }

  async download(record, opener) {
    opener.disabled = true;
    try {
      const { blob, filename } = await api.download(record.file_id, record.filename);
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: filename, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      announce(`Downloaded ${filename}`);
    } catch (error) {
      announce(`Download of ${record.filename} failed: ${error.message}`);
    } finally {
      opener.disabled = false;
    }
  }

  async cancel(record) {
    try {
      await api.cancelFile(record.file_id);
      announce(`Cancelled ${record.filename}`);
    } catch (error) {
      announce(`Could not cancel ${record.filename}: ${error.message}`);
    }
    this.refresh();
  }

  async remove(record) {
    if (!window.confirm(`Delete ${record.filename}? Its original and parsed content are removed.`)) return;
    try {
      await api.deleteFile(record.file_id);
      announce(`Deleted ${record.filename}`);
      this.onGone(record.file_id);
    } catch (error) {
      announce(`Could not delete ${record.filename}: ${error.message}`);
    }
    await this.refresh();
    this.search.focus();
  }
}

function button(text, label, onclick, kind = "secondary") {
  return h("button", { type: "button", class: kind, "aria-label": label, onclick }, text);
}

function statusBadge(record) {
  const parts = [h("span", { class: `badge status-${record.status}` }, record.status)];
  if (record.status === "parsing" && record.progress) parts.push(` ${record.progress}%`);
  if (record.status === "failed" && record.error?.message) {
    parts.push(h("span", { class: "error-text" }, record.error.message));
  }
  return parts;
}
