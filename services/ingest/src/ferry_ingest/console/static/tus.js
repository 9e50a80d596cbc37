// Resumable uploads: a small tus 1.0 client (docs/DECISIONS.md "Resumable uploads") for large files.
// The file goes in chunks of PATCH requests, each checked by sha256 where the browser can hash; a
// dropped connection or a passing refusal asks HEAD where the server stopped and goes on from there.
// The upload's URL is remembered in localStorage by user, organization, name, size and lastModified,
// so choosing the same file again after a reload or a lost connection resumes it.

import { ApiError, currentOrg, currentSession, getFile, send, sendWithProgress } from "./api.js";

const TUS = { "tus-resumable": "1.0.0" };
const MIB = 1024 * 1024;
const STORE_PREFIX = "ferry.tus:";
const RETRIES = 5;
// Answers after which asking the offset again may succeed: no answer (0), another request still
// holding the upload (409, 423), throttling (429), a chunk damaged on the way (460), a server fault.
const RETRY_STATUSES = new Set([0, 409, 423, 429, 460]);

/**
 * Files above `threshold` bytes go by tus, in chunks of `chunkBytes`. Both may be set in
 * localStorage (`ferry.upload.resumableOver`, `ferry.upload.chunkBytes`), for a slow link.
 */
export function settings() {
  const number = (name, fallback) => {
    const value = Number.parseInt(localStorage.getItem(name) ?? "", 10);
    return Number.isFinite(value) && value > 0 ? value : fallback;
  };
  return {
    threshold: number("ferry.upload.resumableOver", 32 * MIB),
    chunkBytes: number("ferry.upload.chunkBytes", 16 * MIB),
  };
}

const storeKey = (file) =>
  `${STORE_PREFIX}${currentSession()?.username ?? ""}:${currentOrg() ?? ""}:${file.name}:${file.size}:${file.lastModified}`;

function remembered(file) {
  return localStorage.getItem(storeKey(file));
}

function remember(file, url) {
  try {
    if (url) localStorage.setItem(storeKey(file), url);
    else localStorage.removeItem(storeKey(file));
  } catch {
    // A full or disabled storage only means this upload cannot resume after a reload.
  }
}

function encodeMetadata(pairs) {
  const base64 = (text) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));
  return Object.entries(pairs)
    .filter(([, value]) => value)
    .map(([key, value]) => `${key} ${base64(value)}`)
    .join(",");
}

/** The chunk's sha256 for Upload-Checksum, or null where the page has no WebCrypto (plain http off localhost). */
async function checksum(blob) {
  if (!globalThis.crypto?.subtle) return null;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
  return `sha256 ${btoa(String.fromCharCode(...digest))}`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const backoff = (failures) => Math.min(500 * 2 ** (failures - 1), 8_000);
const retryable = (error) => error instanceof TypeError || RETRY_STATUSES.has(error.status) || error.status >= 500;
const number = (response, name) => {
  const value = response.headers.get(name);
  return value === null ? null : Number.parseInt(value, 10);
};

/** The server's offset of an upload and its length; an ApiError (404 when gone) otherwise. */
async function head(url) {
  const response = await send(url, { method: "HEAD", headers: TUS });
  const offset = number(response, "upload-offset");
  if (!Number.isInteger(offset)) throw new ApiError(response.status, "the server did not say the upload's offset");
  return { offset, length: number(response, "upload-length") };
}

/** The file an upload became, once the server no longer knows the upload (null: it never completed). */
async function completed(url) {
  try {
    return await getFile(url.split("/").pop());
  } catch {
    return null;
  }
}

/** The URL (a path) of a new upload of `file`. */
async function create(file) {
  const metadata = encodeMetadata({ filename: file.name, filetype: file.type });
  const response = await send("/files/tus", {
    method: "POST",
    headers: { ...TUS, "upload-length": String(file.size), "upload-metadata": metadata },
  });
  const location = response.headers.get("location");
  if (!location) throw new ApiError(response.status, "the server did not say where the upload is");
  return new URL(location, window.location.href).pathname;
}

/**
 * Upload `file` by tus. Returns {promise, abort} like api.upload; the promise resolves to the file's
 * record. onBytes(loaded, total) follows the bytes the server holds; a resumed upload starts where
 * it stopped. Cancelling (abort) deletes the upload on the server and forgets it.
 */
export function resumableUpload(file, onBytes, { chunkBytes } = settings()) {
  let transfer = null;
  let aborted = false;
  let url = null;

  const cancelled = () => new ApiError(0, "upload cancelled");

  const patch = async (offset, chunk, sum) => {
    if (aborted) throw cancelled();
    const headers = { ...TUS, "upload-offset": String(offset), "content-type": "application/offset+octet-stream" };
    if (sum) headers["upload-checksum"] = sum;
    transfer = sendWithProgress("PATCH", url, {
      headers,
      body: chunk,
      ok: 204,
      lost: "network error: the chunk did not reach the server",
      onProgress: (event) => onBytes(offset + event.loaded, file.size),
    });
    const request = await transfer.promise;
    return {
      offset: Number.parseInt(request.getResponseHeader("upload-offset") ?? "", 10),
      fileId: request.getResponseHeader("ferry-file-id"),
    };
  };

  /** Where to begin: the remembered upload if the server still has it, else a new one. */
  const open = async () => {
    url = remembered(file);
    if (url) {
      try {
        const known = await head(url);
        if (known.length === file.size && Number.isInteger(known.offset)) return known.offset;
      } catch (error) {
        if (![403, 404, 410].includes(error.status)) throw error;
      }
      remember(file, null);
    }
    url = await create(file);
    remember(file, url);
    return 0;
  };

  const run = async () => {
    let offset = await open();
    let fileId = null;
    let failures = 0;
    let known = true;
    onBytes(offset, file.size);
    for (;;) {
      if (aborted) throw cancelled();
      try {
        if (!known) {
          offset = (await head(url)).offset;
          known = true;
          onBytes(offset, file.size);
        }
        if (offset >= file.size) break;
        const chunk = file.slice(offset, Math.min(offset + chunkBytes, file.size));
        const reply = await patch(offset, chunk, await checksum(chunk));
        if (!Number.isInteger(reply.offset) || (reply.offset <= offset && !reply.fileId)) {
          // Answered but took nothing: never loop on it; count it, then ask where things stand.
          throw new ApiError(500, `the server kept none of the chunk at ${offset}`);
        }
        failures = 0;
        offset = reply.offset;
        fileId = reply.fileId || fileId;
      } catch (error) {
        if (aborted) throw cancelled();
        if (error.status === 404) {
          // Gone: completed by the chunk whose answer was lost, or expired.
          const record = await completed(url);
          remember(file, null);
          if (record) return record;
        }
        if (!retryable(error) || failures >= RETRIES) {
          if (!retryable(error)) remember(file, null); // refused for good: nothing to resume
          throw error;
        }
        failures += 1;
        known = false;
        await sleep(error.retryAfter ? Number(error.retryAfter) * 1000 : backoff(failures));
      }
    }
    remember(file, null);
    // The upload's id is the file's (the contract makes them one).
    return getFile(fileId || url.split("/").pop());
  };

  const promise = run().catch(async (error) => {
    if (aborted && url) {
      remember(file, null);
      await send(url, { method: "DELETE", headers: TUS }).catch(() => {});
    }
    throw error;
  });

  return {
    promise,
    abort: () => {
      aborted = true;
      transfer?.abort();
    },
  };
}
