// The REST client: the account's token, the one error shape {"error": {"code", "message"}}, uploads.

const TOKEN_KEY = "printerlynx.token";
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export function getToken() {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
  for (const listener of listeners) listener(token);
}

/** Call `listener(token)` whenever the token changes (login, logout, revocation). */
export function onToken(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function errorFrom(status, body, fallback) {
  const error = body && typeof body === "object" ? body.error : null;
  if (error && error.message) return new ApiError(status, error.code || "error", error.message, error.details);
  return new ApiError(status, "http_error", fallback || `request failed (HTTP ${status})`);
}

async function parse(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** One JSON request; resolves to the body, rejects with an ApiError (a 401 signs the person out). */
export async function request(method, path, body, options = {}) {
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "network_error", "cannot reach the server; check your connection");
  }
  const data = await parse(response);
  if (!response.ok) {
    if (response.status === 401 && token && !options.keepTokenOn401) setToken(null);
    throw errorFrom(response.status, data);
  }
  return data;
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body, options) => request("POST", path, body ?? {}, options),
  put: (path, body) => request("PUT", path, body),
  del: (path) => request("DELETE", path),
};

/** GET a binary resource with the token; resolves to a Blob, or null when it does not exist. */
export async function fetchBlob(path) {
  const token = getToken();
  const response = await fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (response.status === 404) return null;
  if (!response.ok) throw errorFrom(response.status, await parse(response));
  return response.blob();
}

/** Save a download under `name` (fetched with the token, since a plain link cannot carry it). */
export async function download(path, name) {
  const blob = await fetchBlob(path);
  if (!blob) throw new ApiError(404, "not_found", "the file no longer exists");
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const UPLOAD_ERRORS = {
  413: "is too large for this server",
  415: "is not a G-code file (.gcode, .gco, .g or .bgcode)",
};

/** Upload one file as multipart field `file` with XMLHttpRequest, reporting progress 0..1. */
export function upload(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    const token = getToken();
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    xhr.onerror = () => reject(new ApiError(0, "network_error", `upload of ${file.name} failed: connection lost`));
    xhr.onload = () => {
      let body = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(body);
        return;
      }
      if (xhr.status === 401) setToken(null);
      const known = UPLOAD_ERRORS[xhr.status];
      const error = errorFrom(xhr.status, body, known ? `${file.name} ${known}` : undefined);
      if (known) error.message = `${file.name} ${known}: ${error.message}`;
      reject(error);
    };
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}
