// The upload queue: one row per file, with a progress bar that first follows the bytes sent
// (XMLHttpRequest upload events), then the parse (the notifier's messages), to a final status.
// Large files go by tus in chunks (tus.js) and resume where they stopped when chosen again.

import * as api from "./api.js";
import { announce, formatBytes, h } from "./dom.js";
import { resumableUpload, settings as tusSettings } from "./tus.js";

const RANK = { uploading: 0, queued: 1, parsing: 2, parsed: 3, failed: 3, cancelled: 3 };
const TERMINAL = new Set(["parsed", "failed", "cancelled"]);
const POLL_MS = 1_500;

let counter = 0;

class UploadRow {
  constructor(file, onRemove) {
    counter += 1;
    const id = `upload-${counter}`;
    this.file = file;
    this.fileId = null;
    this.status = "uploading";
    this.transfer = null;
    this.bar = h("progress", { id: `${id}-bar`, max: 100, value: 0, "aria-labelledby": `${id}-name ${id}-state` });
    this.state = h("span", { class: "upload-state", id: `${id}-state` }, "Waiting to upload");
    this.cancelButton = h(
      "button",
      { type: "button", class: "secondary", onclick: () => this.cancel(), "aria-describedby": `${id}-name` },
      "Cancel",
    );
    this.removeButton = h(
      "button",
      { type: "button", class: "secondary", hidden: true, onclick: () => onRemove(this), "aria-describedby": `${id}-name` },
      "Dismiss",
    );
    this.el = h(
      "li",
      { class: "upload", dataset: { status: "uploading" } },
      h(
        "div",
        { class: "upload-head" },
        h("span", { class: "upload-name", id: `${id}-name` }, file.name),
        h("span", { class: "upload-size" }, formatBytes(file.size)),
      ),
      this.bar,
      h("div", { class: "upload-foot" }, this.state, this.cancelButton, this.removeButton),
    );
  }

  get done() {
    return TERMINAL.has(this.status);
  }

  setText(text) {
    this.state.textContent = text;
  }

  bytes(loaded, total) {
    if (this.status !== "uploading") return;
    const percent = total ? Math.floor((loaded / total) * 100) : 0;
    this.bar.value = percent;
    this.setText(`Uploading ${percent}% (${formatBytes(loaded)} of ${formatBytes(total)})`);
  }

  /** Apply a progress object (from the notifier, /progress or the upload's reply); never moves backwards. */
  apply(data) {
    const status = data.status;
    if (!(status in RANK) || RANK[status] < RANK[this.status]) return;
    if (this.done) return;
    const changed = status !== this.status;
    this.status = status;
    this.el.dataset.status = status;
    if (status === "queued") {
      this.bar.value = 0;
      const ahead = data.queue_position ? ` (position ${data.queue_position})` : "";
      this.setText(`Queued for parsing${ahead}`);
    } else if (status === "parsing") {
      this.bar.value = data.progress ?? 0;
      this.setText(`Parsing ${data.progress ?? 0}%${detail(data)}`);
    } else if (status === "parsed") {
      this.bar.value = 100;
      this.setText(`Parsed${detail(data)}`);
    } else if (status === "failed") {
      const message = data.error?.message || "the file could not be parsed";
      this.setText(`Failed: ${message}`);
    } else if (status === "cancelled") {
      this.setText("Cancelled");
    }
    if (changed) announce(`${this.file.name}: ${this.state.textContent}`);
    if (this.done) {
      this.cancelButton.hidden = true;
      this.removeButton.hidden = false;
    }
  }

  fail(message) {
    this.status = "failed";
    this.el.dataset.status = "failed";
    this.setText(`Failed: ${message}`);
    this.cancelButton.hidden = true;
    this.removeButton.hidden = false;
    announce(`${this.file.name}: failed: ${message}`);
  }

  async cancel() {
    if (this.done) return;
    if (!this.fileId) {
      this.transfer?.abort();
      return;
    }
    try {
      this.apply(await api.cancelFile(this.fileId));
    } catch (error) {
      announce(`${this.file.name}: ${error.message}`);
    }
  }
}

function detail(data) {
  if (data.pages_total) return ` — ${data.pages_done ?? 0} of ${data.pages_total} pages`;
  if (data.pages_done) return ` — ${data.pages_done} pages`;
  if (data.rows_done) return ` — ${data.rows_done.toLocaleString()} rows`;
  return "";
}

export class Uploads {
  /** list: the <ol> rows go into; onSettled(): a file reached the server or a final status. */
  constructor(list, { onSettled, isLive }) {
    this.list = list;
    this.onSettled = onSettled;
    this.isLive = isLive;
    this.rows = [];
    // Updates that arrived before their upload's reply told us the file id.
    this.early = new Map();
    this.pollTimer = setInterval(() => this.poll(), POLL_MS);
  }

  add(files) {
    for (const file of files) {
      const row = new UploadRow(file, (gone) => this.remove(gone));
      this.rows.push(row);
      this.list.append(row.el);
      this.start(row);
    }
    this.list.closest("section").hidden = false;
  }

  async start(row) {
    row.setText("Uploading 0%");
    announce(`${row.file.name}: uploading`);
    const onBytes = (loaded, total) => row.bytes(loaded, total);
    const tus = tusSettings();
    row.transfer =
      row.file.size > tus.threshold
        ? resumableUpload(row.file, onBytes, tus)
        : api.upload(row.file, onBytes);
    let record;
    try {
      record = await row.transfer.promise;
    } catch (error) {
      if (error.message === "upload cancelled") {
        row.apply({ status: "cancelled" });
      } else {
        const wait = error.retryAfter ? ` (try again in ${error.retryAfter} s)` : "";
        row.fail(`${error.message}${wait}`);
      }
      return;
    }
    row.fileId = record.file_id;
    row.el.dataset.fileId = record.file_id;
    row.bar.value = 100;
    row.apply(record);
    const early = this.early.get(record.file_id);
    this.early.delete(record.file_id);
    if (early) row.apply(early);
    this.onSettled();
  }

  /** A notifier message: {type: "status_update" | "progress_update" | "file_deleted", data}. */
  handle(message) {
    const data = message.data;
    if (!data?.file_id) return;
    const row = this.rows.find((r) => r.fileId === data.file_id);
    if (message.type === "file_deleted") {
      if (row && !row.done) row.apply({ status: "cancelled" });
      return;
    }
    if (!row) {
      const pending = this.rows.some((r) => r.fileId === null && !r.done);
      if (pending) this.early.set(data.file_id, data);
      return;
    }
    const wasDone = row.done;
    row.apply(data);
    if (!wasDone && row.done) this.onSettled();
  }

  /** Without a live socket, ask for the state of unfinished uploads now and then. */
  async poll(force = false) {
    if (!force && this.isLive()) return;
    for (const row of this.rows) {
      if (!row.fileId || row.done) continue;
      try {
        const wasDone = row.done;
        row.apply(await api.getProgress(row.fileId));
        if (!wasDone && row.done) this.onSettled();
      } catch {
        // Try again on the next round.
      }
    }
  }

  /** After the socket (re)connects: catch up on anything missed while it was down. */
  resync() {
    this.poll(true);
  }

  remove(row) {
    this.rows = this.rows.filter((r) => r !== row);
    row.el.remove();
    if (this.rows.length === 0) this.list.closest("section").hidden = true;
    document.getElementById("drop-zone")?.focus();
  }

  clearFinished() {
    for (const row of this.rows.filter((r) => r.done)) row.el.remove();
    this.rows = this.rows.filter((r) => !r.done);
    if (this.rows.length === 0) this.list.closest("section").hidden = true;
  }
}
