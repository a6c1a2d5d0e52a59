// The live connection to /api/v1/ws: authenticate, keep a store of agents and printers, reconnect with
// backoff, and match every command to its reply by "id" so its OK/ERROR always reaches the person.

import { getToken, setToken } from "./api.js";
import { CLOSE, ERROR, OK, PROTOCOL, T } from "./protocol.js";

const HISTORY_MS = 10 * 60 * 1000;
const TERMINAL_LINES = 500;
const COMMAND_TIMEOUT_MS = 45_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;

/** Everything the server told us live; pages read it and re-render on change. */
export const store = {
  connection: { state: "offline", detail: "" },
  agents: new Map(), // agent_uuid -> {uuid, name, online}
  printers: new Map(), // printer_uuid -> last printer_status data
  history: new Map(), // printer_uuid -> [{t, tool0, tool0_target, bed, bed_target}]
  terminal: new Map(), // printer_uuid -> [{kind: "sent"|"reply"|"ok"|"error", text}]
  version: 0,
};

const subscribers = new Set();
let notifyScheduled = false;

/** Run `callback` after every change of the store (batched per animation frame). */
export function subscribe(callback) {
  subscribers.add(callback);
  return () => subscribers.delete(callback);
}

function changed() {
  store.version += 1;
  if (notifyScheduled) return;
  notifyScheduled = true;
  queueMicrotask(() => {
    notifyScheduled = false;
    for (const callback of subscribers) callback(store.version);
  });
}

const eventListeners = new Set();

/** Run `callback(message)` for every message from the server (toasts, page refreshes). */
export function onMessage(callback) {
  eventListeners.add(callback);
  return () => eventListeners.delete(callback);
}

function setConnection(state, detail = "") {
  store.connection = { state, detail };
  changed();
}

/** Append a line to a printer's terminal. */
export function terminalLine(printerUuid, kind, text) {
  const lines = store.terminal.get(printerUuid) || [];
  lines.push({ kind, text, at: Date.now() });
  if (lines.length > TERMINAL_LINES) lines.splice(0, lines.length - TERMINAL_LINES);
  store.terminal.set(printerUuid, lines);
  changed();
}

function recordTemperatures(status) {
  const state = status.state || {};
  const actual = state.temperature || {};
  const target = state.target_temperature || {};
  if (actual.tool0 === undefined && actual.bed === undefined) return;
  const samples = store.history.get(status.printer_uuid) || [];
  const now = Date.now();
  samples.push({
    t: now / 1000,
    tool0: actual.tool0 ?? null,
    tool0_target: target.tool0 ?? null,
    bed: actual.bed ?? null,
    bed_target: target.bed ?? null,
  });
  while (samples.length && samples[0].t * 1000 < now - HISTORY_MS) samples.shift();
  store.history.set(status.printer_uuid, samples);
}

const handlers = {
  [T.agent_status](data) {
    const name = data.agent_name ?? data.agent_identifier ?? "";
    const previous = store.agents.get(data.agent_uuid) || {};
    store.agents.set(data.agent_uuid, { ...previous, uuid: data.agent_uuid, name, online: data.status === "online" });
    if (data.status !== "online") {
      for (const [uuid, printer] of store.printers) {
        if (printer.agent_uuid === data.agent_uuid) store.printers.set(uuid, { ...printer, status: "unavailable" });
      }
    }
  },
  [T.printer_status](data) {
    const previous = store.printers.get(data.printer_uuid) || {};
    store.printers.set(data.printer_uuid, { ...previous, ...data });
    recordTemperatures(data);
  },
  [T.printer_response](data) {
    const command = data.command ? `${data.command}: ` : "";
    for (const line of data.lines || []) terminalLine(data.printer_uuid, "reply", `${command}${line}`);
  },
};

let socket = null;
let attempt = 0;
let retryTimer = null;
let stopped = true;
let nextId = 1;
const pending = new Map(); // id -> {resolve, timer}

function failPending(message) {
  for (const [id, entry] of pending) {
    clearTimeout(entry.timer);
    entry.resolve({ status: ERROR, message });
    pending.delete(id);
  }
}

function dispatch(message) {
  if (message.id !== undefined && pending.has(message.id)) {
    const entry = pending.get(message.id);
    pending.delete(message.id);
    clearTimeout(entry.timer);
    entry.resolve(message.data || { status: ERROR, message: "empty reply" });
    return;
  }
  const handler = handlers[message.type];
  if (handler) {
    handler(message.data || {});
    changed();
  }
  for (const listener of eventListeners) listener(message);
}

function scheduleReconnect(reason) {
  if (stopped) return;
  const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt) * (0.8 + Math.random() * 0.4);
  attempt += 1;
  setConnection("reconnecting", `${reason}; retrying in ${Math.max(1, Math.round(delay / 1000))} s`);
  retryTimer = setTimeout(open, delay);
}

function open() {
  retryTimer = null;
  const token = getToken();
  if (!token || stopped) return;
  const url = new URL(PROTOCOL.path, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  setConnection("connecting");
  const ws = new WebSocket(url);
  socket = ws;
  let authenticated = false;
  ws.onopen = () => {
    setConnection("authenticating");
    ws.send(JSON.stringify({ type: T.authentication, data: { token } }));
  };
  ws.onmessage = (event) => {
    if (socket !== ws) return; // a socket we already left behind
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!authenticated && message.type === T.authentication) {
      if (message.data && message.data.status === OK) {
        authenticated = true;
        attempt = 0;
        // The snapshot that follows re-announces every agent and online printer.
        store.agents.clear();
        store.printers.clear();
        setConnection("online");
      } else {
        stopped = true;
        setConnection("offline", (message.data && message.data.message) || "authentication failed");
        setToken(null);
      }
      return;
    }
    dispatch(message);
  };
  ws.onclose = (event) => {
    if (socket !== ws) return;
    socket = null;
    failPending("connection to the server was lost before the reply arrived");
    if (event.code === CLOSE.revoked) {
      // A password change revokes the old token and hands this tab a new one: that is not a sign-out.
      if (getToken() && getToken() !== token) {
        scheduleReconnect("credentials changed");
        return;
      }
      stopped = true;
      setConnection("offline", "signed out: your session was revoked");
      setToken(null);
      return;
    }
    if (event.code === CLOSE.replaced) {
      scheduleReconnect("replaced by another connection");
      return;
    }
    const reasons = { [CLOSE.restarting]: "server restarting", 1006: "connection lost" };
    scheduleReconnect(reasons[event.code] || (event.code ? `closed (${event.code})` : "connection lost"));
  };
}

// Back online, or the tab shown again: try now instead of waiting out the backoff.
function retryNow() {
  if (stopped || socket || !retryTimer) return;
  clearTimeout(retryTimer);
  attempt = 0;
  open();
}
addEventListener("online", retryNow);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") retryNow();
});

/** Start (or restart) the live connection with the current token. */
export function connect() {
  disconnect();
  stopped = false;
  attempt = 0;
  open();
}

/** Close the live connection and forget what it told us. */
export function disconnect() {
  stopped = true;
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  if (socket) {
    const ws = socket;
    socket = null;
    ws.close(1000, "bye");
  }
  failPending("disconnected");
  store.agents.clear();
  store.printers.clear();
  // Keep the reason when the server ended it (revoked, authentication failed): the sign-in page shows it.
  setConnection("offline", store.connection.state === "offline" ? store.connection.detail : "");
}

/** Send a command; resolves to its reply data ({status, message?, job_uuid?}) — never rejects. */
export function command(type, data) {
  return new Promise((resolve) => {
    if (!socket || socket.readyState !== WebSocket.OPEN || store.connection.state !== "online") {
      resolve({ status: ERROR, message: "not connected to the server; wait for the connection to come back" });
      return;
    }
    const id = `c${nextId++}`;
    const timer = setTimeout(() => {
      pending.delete(id);
      resolve({ status: ERROR, message: "no reply from the server in time" });
    }, COMMAND_TIMEOUT_MS);
    pending.set(id, { resolve, timer });
    socket.send(JSON.stringify({ type, id, data }));
  });
}
