// The console's entry point: sign-in and registration, then the organization switcher, uploads, the
// file list, the viewer and the analytics view.

import { Analytics } from "./analytics.js";
import * as api from "./api.js";
import { $, announce, fill } from "./dom.js";
import { FileList } from "./files.js";
import { Live } from "./live.js";
import { OrgSwitcher } from "./orgs.js";
import { Uploads } from "./uploads.js";
import { Viewer } from "./viewer.js";

const authView = $("#auth-view");
const mainView = $("#main-view");
const liveState = $("#live-state");

const viewer = new Viewer($("#viewer"));
const files = new FileList($("#files"), {
  onView: (record, opener) => viewer.open(record, opener),
  onGone: (fileId) => {
    if (viewer.fileId === fileId) viewer.close();
  },
});
const uploads = new Uploads($("#upload-list"), {
  onSettled: () => files.refreshSoon(),
  isLive: () => live.open,
});
const orgs = new OrgSwitcher($("#org-switch"), (org) => {
  showOrg(org);
  viewer.close();
  uploads.clearFinished();
  files.refresh();
  live.restart();
  if (analytics.visible) analytics.refresh();
});
const analytics = new Analytics($("#analytics-view"), { orgs });
const FINAL = new Set(["parsed", "failed", "cancelled"]);
const live = new Live(
  (message) => {
    uploads.handle(message);
    files.handle(message);
    if (message.type === "file_deleted" && viewer.fileId === message.data?.file_id) viewer.close();
    if (analytics.visible && FINAL.has(message.data?.status)) analytics.refreshSoon();
  },
  (state) => {
    liveState.dataset.state = state;
    fill(liveState, { open: "Live updates on", connecting: "Connecting…", closed: "Live updates off" }[state]);
    if (state === "open") uploads.resync();
  },
);

// -- organizations and views ------------------------------------------------------------------

function showOrg(org) {
  fill($("#org-line"), !org || org.personal ? "In your personal organization" : `In ${org.name}, as ${org.role}`);
}

function showView(name) {
  const toAnalytics = name === "analytics";
  $("#files-view").hidden = toAnalytics;
  $("#analytics-view").hidden = !toAnalytics;
  $("#tab-files").setAttribute("aria-pressed", String(!toAnalytics));
  $("#tab-analytics").setAttribute("aria-pressed", String(toAnalytics));
  if (toAnalytics) analytics.refresh();
}

$("#tab-files").addEventListener("click", () => showView("files"));
$("#tab-analytics").addEventListener("click", () => showView("analytics"));

async function loadOrgs() {
  const before = api.currentOrg();
  try {
    showOrg(await orgs.load());
    if (api.currentOrg() !== before) {
      // The tab remembered an organization the user is no longer in: back to the personal one.
      files.refresh();
      live.restart();
    }
  } catch (error) {
    fill($("#org-line"), `Organizations could not be loaded: ${error.message}`);
  }
}

// -- signing in ------------------------------------------------------------------------------

function showError(form, error) {
  const box = form.querySelector(".form-error");
  box.hidden = !error;
  fill(box, error ? error.message : "");
}

async function busy(form, work) {
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  showError(form, null);
  try {
    await work();
  } catch (error) {
    showError(form, error);
  } finally {
    submit.disabled = false;
  }
}

$("#login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  busy(form, async () => {
    try {
      await api.login(form.username.value.trim(), form.password.value, form.otp.value.trim());
    } catch (error) {
      if (/one-time code/i.test(error.message)) {
        $("#otp-field").hidden = false;
        form.otp.focus();
      }
      throw error;
    }
    form.reset();
  });
});

$("#register-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  busy(form, async () => {
    const fields = {
      username: form.username.value.trim(),
      email: form.email.value.trim(),
      password: form.password.value,
    };
    const fullName = form.full_name.value.trim();
    if (fullName) fields.full_name = fullName;
    await api.register(fields);
    await api.login(fields.username, fields.password);
    form.reset();
  });
});

$("#logout").addEventListener("click", () => api.logout());

let signedIn = null;

function render(session) {
  const isIn = Boolean(session);
  authView.hidden = isIn;
  mainView.hidden = !isIn;
  $("#user-bar").hidden = !isIn;
  if (!isIn) {
    live.stop();
    viewer.close();
    signedIn = null;
    $("#login-username").focus();
    return;
  }
  fill($("#who"), session.username || "");
  if (signedIn === session.username) return; // a refresh: same user, nothing else to redraw
  signedIn = session.username;
  showView("files");
  live.start();
  files.refresh();
  loadOrgs();
  announce(`Signed in as ${session.username}`);
  $("#main-title").focus();
}

api.onSession(render);

// -- choosing and dropping files -------------------------------------------------------------

const dropZone = $("#drop-zone");
const picker = $("#file-input");

dropZone.addEventListener("click", () => picker.click());
picker.addEventListener("change", () => {
  if (picker.files.length) uploads.add([...picker.files]);
  picker.value = "";
});

// Dropping outside the zone must not navigate away from the console.
for (const type of ["dragover", "drop"]) {
  window.addEventListener(type, (event) => event.preventDefault());
}
let dragDepth = 0;
dropZone.addEventListener("dragenter", (event) => {
  event.preventDefault();
  dragDepth += 1;
  dropZone.classList.add("dragging");
});
dropZone.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) dropZone.classList.remove("dragging");
});
dropZone.addEventListener("dragover", (event) => {
  event.preventDefault();
  event.dataTransfer.dropEffect = "copy";
});
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  dragDepth = 0;
  dropZone.classList.remove("dragging");
  const dropped = [...(event.dataTransfer?.files || [])];
  if (dropped.length) uploads.add(dropped);
});

$("#clear-finished").addEventListener("click", () => uploads.clearFinished());

render(api.resume());
