// One WebSocket to the notifier's /ws: updates of the files of the active organization
// (named by `?org=`, as a browser cannot set headers on a WebSocket).
// The token travels as the subprotocol "bearer, <token>" (never in the URL); the socket
// reconnects with a fresh token when it closes (the notifier closes it when the token expires).

import { accessToken, currentOrg, currentSession, refresh } from "./api.js";

const PING_EVERY_MS = 30_000;
const MAX_BACKOFF_MS = 15_000;

export class Live {
  /** onMessage({type, data}) for every update; onState("connecting" | "open" | "closed"). */
  constructor(onMessage, onState) {
    this.onMessage = onMessage;
    this.onState = onState;
    this.socket = null;
    this.wanted = false;
    this.backoff = 500;
    this.pingTimer = 0;
    this.retryTimer = 0;
    // Bumped by each connect: one still awaiting a token when another began gives way.
    this.attempt = 0;
  }

  get open() {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  start() {
    this.wanted = true;
    if (!this.socket) this.connect();
  }

  stop() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, "signed out");
    this.onState("closed");
  }

  /** Connect again now, e.g. for another organization. */
  restart() {
    if (!this.wanted) return;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, "organization changed");
    this.backoff = 500;
    this.connect();
  }

  async connect() {
    if (!this.wanted || !currentSession()) return;
    const attempt = ++this.attempt;
    this.onState("connecting");
    let token;
    try {
      token = await accessToken();
    } catch {
      if (attempt === this.attempt) this.retry();
      return;
    }
    if (attempt !== this.attempt || !this.wanted) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const org = currentOrg();
    const path = org ? `/ws?org=${encodeURIComponent(org)}` : "/ws";
    const socket = new WebSocket(`${scheme}//${location.host}${path}`, ["bearer", token]);
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.backoff = 500;
      this.onState("open");
      clearInterval(this.pingTimer);
      // The notifier closes sockets whose client stays silent; a ping keeps this one alive.
      this.pingTimer = setInterval(() => this.sendJson({ type: "ping" }), PING_EVERY_MS);
    };
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === "ping") this.sendJson({ type: "pong" });
      else if (message.type !== "pong") this.onMessage(message);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      clearInterval(this.pingTimer);
      this.onState("closed");
      if (!this.wanted) return;
      // 1008: the token expired. A refused handshake never opens: the token may be stale too.
      if (!opened || event.code === 1008) {
        refresh()
          .catch(() => {})
          .finally(() => this.retry());
      } else {
        this.retry();
      }
    };
  }

  retry() {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
  }

  sendJson(message) {
    if (this.open) this.socket.send(JSON.stringify(message));
  }
}
