// Shared pieces of the interface: the htm binding, toasts, a confirmation dialog, formatting helpers.

import htm from "htm";
import { h, render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { fetchBlob } from "./api.js";
import { store, subscribe } from "./live.js";
import { OK } from "./protocol.js";

export const html = htm.bind(h);

// ---- toasts: every command's OK/ERROR reaches the person; errors stay until dismissed ----------------

let toastId = 0;
const toastListeners = new Set();
export const toasts = [];

function toastsChanged() {
  for (const listener of toastListeners) listener([...toasts]);
}

/** Show a message; `kind` is "ok", "error" or "info". Errors stay until dismissed. */
export function toast(kind, text) {
  const id = ++toastId;
  toasts.push({ id, kind, text });
  toastsChanged();
  if (kind !== "error") setTimeout(() => dismiss(id), 5000);
  return id;
}

export function dismiss(id) {
  const index = toasts.findIndex((item) => item.id === id);
  if (index >= 0) toasts.splice(index, 1);
  toastsChanged();
}

/** Show a command's reply as a toast: `what` names the command for the person. */
export function toastReply(what, reply) {
  if (reply.status === OK) toast("ok", `${what}: OK`);
  else toast("error", `${what} failed: ${reply.message || "no reason given"}`);
  return reply;
}

/** Report a failed REST call. */
export function toastError(what, error) {
  toast("error", `${what}: ${error.message || error}`);
}

export function Toasts() {
  const [items, setItems] = useState([...toasts]);
  useEffect(() => {
    toastListeners.add(setItems);
    return () => toastListeners.delete(setItems);
  }, []);
  return html`<div class="toasts" role="status" aria-live="polite">
    ${items.map(
      (item) => html`<div class=${`toast toast-${item.kind}`} key=${item.id} data-kind=${item.kind}>
        <span>${item.text}</span>
        <button class="link" aria-label="Dismiss" onClick=${() => dismiss(item.id)}>×</button>
      </div>`,
    )}
  </div>`;
}

// ---- confirmation dialog (a real <dialog>: focus is trapped and Escape cancels) -----------------------

/** Ask the person to confirm; resolves true or false. */
export function confirmAction(title, text, confirmLabel = "Confirm", danger = true) {
  return new Promise((resolve) => {
    const host = document.createElement("div");
    document.body.append(host);
    const close = (answer) => {
      render(null, host);
      host.remove();
      resolve(answer);
    };
    function Dialog() {
      const ref = useRef(null);
      useEffect(() => {
        ref.current.showModal();
      }, []);
      return html`<dialog ref=${ref} class="confirm" aria-labelledby="confirm-title" onCancel=${() => close(false)}>
        <h2 id="confirm-title">${title}</h2>
        <p>${text}</p>
        <div class="row end">
          <button type="button" onClick=${() => close(false)}>Cancel</button>
          <button type="button" class=${danger ? "danger" : "primary"} onClick=${() => close(true)}>
            ${confirmLabel}
          </button>
        </div>
      </dialog>`;
    }
    render(html`<${Dialog} />`, host);
  });
}

// ---- hooks -------------------------------------------------------------------------------------------

/** Re-render the component whenever the live store changes; returns the store. */
export function useLive() {
  const [, setVersion] = useState(store.version);
  useEffect(() => subscribe(setVersion), []);
  return store;
}

/** Load something once (and again when `deps` change or `reload()` is called). */
export function useLoad(loader, deps = []) {
  const [state, setState] = useState({ loading: true, data: null, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let alive = true;
    loader().then(
      (data) => alive && setState({ loading: false, data, error: null }),
      (error) => alive && setState({ loading: false, data: null, error }),
    );
    return () => {
      alive = false;
    };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((value) => value + 1) };
}

// ---- thumbnails: fetched with the token, cached as object URLs ---------------------------------------

const thumbnails = new Map(); // print_file_uuid -> Promise<string|null>

function thumbnailUrl(fileUuid) {
  if (!thumbnails.has(fileUuid)) {
    const promise = fetchBlob(`/api/v1/printfiles/${fileUuid}/thumbnail`).then(
      (blob) => (blob ? URL.createObjectURL(blob) : null),
      () => null,
    );
    thumbnails.set(fileUuid, promise);
  }
  return thumbnails.get(fileUuid);
}

export function Thumbnail({ fileUuid, name, size = 64 }) {
  const [src, setSrc] = useState(null);
  useEffect(() => {
    let alive = true;
    setSrc(null);
    if (fileUuid) thumbnailUrl(fileUuid).then((url) => alive && setSrc(url));
    return () => {
      alive = false;
    };
  }, [fileUuid]);
  const style = `width:${size}px;height:${size}px`;
  if (!src) return html`<div class="thumb placeholder" style=${style} aria-hidden="true">G</div>`;
  return html`<img class="thumb" src=${src} alt=${`Preview of ${name || "the file"}`} style=${style} />`;
}

// ---- formatting --------------------------------------------------------------------------------------

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const total = Math.max(0, Math.round(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  if (hours) return `${hours} h ${String(minutes).padStart(2, "0")} min`;
  if (minutes) return `${minutes} min ${String(secs).padStart(2, "0")} s`;
  return `${secs} s`;
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

export function formatTemp(actual, target) {
  const a = actual === null || actual === undefined ? "—" : `${Number(actual).toFixed(1)}°C`;
  if (target === null || target === undefined) return a;
  if (Number(target) === 0) return `${a} / off`;
  return `${a} / ${Number(target).toFixed(0)}°C`;
}

export function Badge({ value }) {
  return html`<span class=${`badge badge-${value}`}>${value}</span>`;
}
