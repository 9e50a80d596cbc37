// The session (tokens in this tab's sessionStorage), the active organization, and every call the
// console makes to the API.

const STORE_KEY = "ferry.session";
const ORG_KEY = "ferry.org";
// The active organization travels in this header (the notifier's socket takes `?org=` instead).
export const ORG_HEADER = "X-Ferry-Org";
// Refresh this long before the access token runs out.
const REFRESH_MARGIN_MS = 30_000;

/** An HTTP error from the API, with the status and the server's `detail` as readable text. */
export class ApiError extends Error {
  constructor(status, detail, retryAfter = null) {
    super(describe(detail) || `request failed (${status})`);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** `detail` is a string, or FastAPI's list of validation errors. */
function describe(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => {
        const where = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : "";
        return where ? `${where}: ${item.msg}` : item.msg;
      })
      .join("; ");
  }
  return detail ? JSON.stringify(detail) : "";
}

async function errorOf(response) {
  let detail = "";
  try {
    detail = (await response.json()).detail;
  } catch {
    detail = response.statusText;
  }
  return new ApiError(response.status, detail, response.headers.get("Retry-After"));
}

let session = load();
let activeOrg = sessionStorage.getItem(ORG_KEY) || null;
let refreshing = null;
let refreshTimer = 0;
const listeners = new Set();

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE_KEY)) || null;
  } catch {
    return null;
  }
}

function save(next) {
  if (!next) setOrg(null);
  session = next;
  if (next) sessionStorage.setItem(STORE_KEY, JSON.stringify(next));
  else sessionStorage.removeItem(STORE_KEY);
  schedule();
  for (const listener of listeners) listener(next);
}

function schedule() {
  clearTimeout(refreshTimer);
  if (!session) return;
  const wait = Math.max(session.expiresAt - Date.now() - REFRESH_MARGIN_MS, 1_000);
  refreshTimer = setTimeout(() => refresh().catch(() => {}), wait);
}

function fromPair(pair, username) {
  return {
    access: pair.access_token,
    refresh: pair.refresh_token,
    expiresAt: Date.now() + pair.expires_in * 1000,
    username,
  };
}

/** Be told when the session starts, changes (a refresh) or ends. */
export function onSession(listener) {
  listeners.add(listener);
}

export const currentSession = () => session;

/** The organization the console acts in; null is the user's personal one (no header sent). */
export const currentOrg = () => activeOrg;

export function setOrg(orgId) {
  activeOrg = orgId || null;
  if (activeOrg) sessionStorage.setItem(ORG_KEY, activeOrg);
  else sessionStorage.removeItem(ORG_KEY);
}

function scoped(headers = {}) {
  return activeOrg ? { ...headers, [ORG_HEADER]: activeOrg } : headers;
}

export function resume() {
  if (session) schedule();
  return session;
}

async function postJson(path, body, headers = {}) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await errorOf(response);
  return response.status === 204 ? null : response.json();
}

export async function login(username, password, otp) {
  const body = { username, password };
  if (otp) body.otp = otp;
  const pair = await postJson("/auth/login", body);
  save(fromPair(pair, username));
  try {
    const me = await request("/users/me");
    save({ ...session, username: me.username });
  } catch {
    // The name typed in is good enough to show.
  }
}

export const register = (fields) => postJson("/auth/register", fields);

export async function logout() {
  const ending = session;
  save(null);
  if (ending?.refresh) {
    await postJson("/auth/logout", { refresh_token: ending.refresh }).catch(() => {});
  }
}

/** A new token pair; one refresh at a time, since a refresh token works only once. */
export function refresh() {
  if (!session) return Promise.reject(new ApiError(401, "not signed in"));
  if (!refreshing) {
    const used = session.refresh;
    refreshing = postJson("/auth/refresh", { refresh_token: used })
      .then((pair) => save(fromPair(pair, session?.username)))
      .catch((error) => {
        if (error instanceof ApiError && error.status === 401) save(null);
        throw error;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/** A current access token, refreshed first if it is about to expire. */
export async function accessToken() {
  if (!session) throw new ApiError(401, "not signed in");
  if (session.expiresAt - Date.now() < 5_000) await refresh();
  return session.access;
}

/** fetch with the bearer token; on 401 refresh once and try again. Returns the Response. */
export async function send(path, init = {}) {
  for (let attempt = 0; ; attempt += 1) {
    const token = await accessToken();
    const headers = scoped({ ...(init.headers || {}), authorization: `Bearer ${token}` });
    const response = await fetch(path, { ...init, headers });
    if (response.status === 401 && attempt === 0 && session) {
      await refresh();
      continue;
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }
}

/** JSON body of an authenticated request (null for 204). */
export async function request(path, init = {}) {
  const response = await send(path, init);
  return response.status === 204 ? null : response.json();
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export const listFiles = (params) => request(`/files${query(params)}`);
export const searchFiles = (params) => request(`/files/search${query(params)}`);
export const getFile = (id) => request(`/files/${encodeURIComponent(id)}`);
export const getProgress = (id) => request(`/files/${encodeURIComponent(id)}/progress`);
export const getContent = (id, params) => request(`/files/${encodeURIComponent(id)}/content${query(params)}`);
export const deleteFile = (id) => request(`/files/${encodeURIComponent(id)}`, { method: "DELETE" });
export const cancelFile = (id) => request(`/files/${encodeURIComponent(id)}/cancel`, { method: "POST" });

const fileUrl = (id, rest) => `/files/${encodeURIComponent(id)}/${rest}`;
export const startAnalysis = (id) => request(fileUrl(id, "analysis"), { method: "POST" });
export const getAnalysis = (id) => request(fileUrl(id, "analysis"));
export const convert = (id, to, wait) =>
  request(fileUrl(id, `conversions${query({ wait })}`), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ to }),
  });
/** A short-lived URL of a finished conversion that needs no token: {url, expires_at}. */
export const conversionUrl = (id, conversionId) =>
  request(fileUrl(id, `conversions/${encodeURIComponent(conversionId)}/download?url=true`));

export const listOrgs = () => request("/orgs");
export const listMembers = (orgId) => request(`/orgs/${encodeURIComponent(orgId)}/members`);
/** scope: "me" (the caller's own files) or "org" (the whole active organization, for its admins). */
export const analytics = (scope, params) => request(`/analytics/${scope}${query(params)}`);

/** The original bytes as a Blob, and the name to save them under. */
export async function download(id, fallbackName) {
  const response = await send(`/files/${encodeURIComponent(id)}/download`);
  return { blob: await response.blob(), filename: filenameOf(response, fallbackName) };
}

function filenameOf(response, fallback) {
  const disposition = response.headers.get("content-disposition") || "";
  const encoded = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  if (encoded) {
    try {
      return decodeURIComponent(encoded[1]);
    } catch {
      // fall through
    }
  }
  const plain = /filename="([^"]+)"/i.exec(disposition);
  return plain ? plain[1] : fallback;
}

/**
 * One XMLHttpRequest as the session (bearer token, active organization), sent once more after a
 * refresh if it is answered 401; its upload events go to onProgress. Returns {promise, abort}; the
 * promise resolves to the finished request when its status is `ok`, else rejects with an ApiError.
 */
export function sendWithProgress(method, path, { headers = {}, body, ok, onProgress, lost }) {
  let xhr = null;
  let aborted = false;
  const attempt = (token) =>
    new Promise((resolve, reject) => {
      if (aborted) {
        reject(new ApiError(0, "upload cancelled"));
        return;
      }
      const request = new XMLHttpRequest();
      xhr = request;
      request.open(method, path);
      request.setRequestHeader("authorization", `Bearer ${token}`);
      if (activeOrg) request.setRequestHeader(ORG_HEADER, activeOrg);
      for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
      request.responseType = "json";
      request.upload.onprogress = onProgress;
      request.onload = () => {
        if (request.status === ok) resolve(request);
        else {
          const detail = request.response?.detail || request.statusText;
          reject(new ApiError(request.status, detail, request.getResponseHeader("Retry-After")));
        }
      };
      request.onerror = () => reject(new ApiError(0, lost));
      request.onabort = () => reject(new ApiError(0, "upload cancelled"));
      request.send(body);
    });
  const promise = (async () => {
    try {
      return await attempt(await accessToken());
    } catch (error) {
      if (aborted || !(error instanceof ApiError) || error.status !== 401) throw error;
      await refresh();
      return attempt(await accessToken());
    }
  })();
  return {
    promise,
    abort: () => {
      aborted = true;
      xhr?.abort();
    },
  };
}

/**
 * Upload one file in one POST /files, whose upload events report the bytes sent.
 * Returns {promise, abort}; the promise resolves to the new file record.
 */
export function upload(file, onBytes) {
  const form = new FormData();
  form.append("file", file, file.name);
  const transfer = sendWithProgress("POST", "/files", {
    body: form,
    ok: 201,
    lost: "network error: the upload did not reach the server",
    onProgress: (event) => {
      if (event.lengthComputable) onBytes(event.loaded, event.total);
    },
  });
  return { promise: transfer.promise.then((request) => request.response || {}), abort: transfer.abort };
}
