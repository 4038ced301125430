// Calls to the service's API. Every failure becomes an ApiError whose message is in words.
export const API = "/api/v1";

// API keys (API_KEYS on the server): asked once on a 401, kept in this browser's localStorage,
// sent as X-API-Key; URLs the browser fetches by itself (EventSource, <audio>, links) carry it
// as ?api_key= (GET only).
const KEY_STORE = "syncAnalyzer.apiKey";
const storedKey = () => { try { return localStorage.getItem(KEY_STORE) || ""; } catch { return ""; } };
const keyHeaders = () => (storedKey() ? { "X-API-Key": storedKey() } : {});

/** ``url`` with ?api_key= when a key is stored (for GET URLs the browser loads itself). */
export function withKey(url) {
  const key = storedKey();
  if (!key) return url;
  return `${url}${url.includes("?") ? "&" : "?"}api_key=${encodeURIComponent(key)}`;
}

/** Ask for an API key (after a 401); true when one was entered. */
function askKey(message) {
  const key = window.prompt(`${message}\nAPI key for this service (stored in this browser):`, "");
  if (!key) return false;
  try { localStorage.setItem(KEY_STORE, key.trim()); } catch { return false; }
  return true;
}

export class ApiError extends Error {
  constructor(message, { status = 0, code = "network_error", details = null } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
  /** Lines that explain the error: the message, then one line per detail when there are some. */
  lines() {
    const out = [this.message];
    const details = Array.isArray(this.details) ? this.details : [];
    for (const d of details.slice(0, 12)) {
      if (typeof d === "string") out.push(d);
      else if (d && (d.message || d.msg)) {
        const where = d.line != null ? `line ${d.line}: ` : d.index != null ? `item ${d.index + 1}: `
          : Array.isArray(d.loc) ? `${d.loc.filter((x) => x !== "body").join(".")}: ` : "";
        const text = d.message || d.msg;
        out.push(text.startsWith(where.trim()) ? text : where + text);
      }
    }
    return out;
  }
}

const STATUS_WORDS = {
  400: "the request was not understood", 403: "that path is not allowed", 404: "not found",
  409: "conflict", 413: "too large", 415: "unsupported type", 422: "invalid request",
  429: "too many requests, slow down", 500: "the server failed", 502: "bad gateway",
  503: "the service is busy or unavailable",
};

/** fetch + JSON; throws ApiError (status, code and message from {"error": {...}}). */
export async function api(path, { method = "GET", body, form, headers = {}, raw = false, retried = false } = {}) {
  const sentKey = storedKey();
  const init = { method, headers: { Accept: "application/json", ...keyHeaders(), ...headers } };
  if (form) init.body = form;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path.startsWith("/") ? path : `${API}/${path}`, init);
  } catch (err) {
    throw new ApiError(`The service could not be reached (${err.message}). Is it running?`);
  }
  if (raw && response.ok) return response;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  // a 401: retry with a key stored meanwhile (by a parallel call), else ask for one
  if (response.status === 401 && !retried && (storedKey() !== sentKey
      || askKey(data?.error?.message || "An API key is required."))) {
    return api(path, { method, body, form, headers, raw, retried: true });
  }
  if (!response.ok) {
    const e = data && data.error;
    if (e) throw new ApiError(e.message || e.code, { status: response.status, code: e.code, details: e.details });
    if (data && data.detail) {
      throw new ApiError(typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail),
        { status: response.status, code: "http_error" });
    }
    throw new ApiError(`HTTP ${response.status}: ${STATUS_WORDS[response.status] || response.statusText}`,
      { status: response.status, code: "http_error" });
  }
  return data;
}

/** Upload with progress (fetch has no upload progress): resolves with the JSON answer. */
export function upload(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${API}/${path}`);
    for (const [name, value] of Object.entries(keyHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress?.(100 * e.loaded / e.total);
    xhr.onerror = () => reject(new ApiError("The upload could not reach the service."));
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else {
        const e = data?.error;
        reject(new ApiError(e?.message || `Upload failed: HTTP ${xhr.status}`,
          { status: xhr.status, code: e?.code || "http_error", details: e?.details }));
      }
    };
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

/** Show an error in an element (a .form-error box): message and detail lines. */
export function showError(el, err) {
  if (!err) { el.hidden = true; el.textContent = ""; return; }
  const lines = err instanceof ApiError ? err.lines() : [String(err.message || err)];
  el.textContent = "";
  const head = document.createElement("strong");
  head.textContent = lines[0];
  el.append(head);
  if (lines.length > 1) {
    const ul = document.createElement("ul");
    for (const line of lines.slice(1)) {
      const li = document.createElement("li");
      li.textContent = line;
      ul.append(li);
    }
    el.append(ul);
  }
  el.hidden = false;
}

/** A dismissable message in the corner (errors that have no form to sit in). */
export function toast(message, kind = "error", ms = 9000) {
  const box = document.getElementById("toasts");
  const div = document.createElement("div");
  div.className = `toast ${kind}`;
  div.setAttribute("role", kind === "error" ? "alert" : "status");
  const close = document.createElement("button");
  close.className = "ghost small";
  close.textContent = "✕";
  close.onclick = () => div.remove();
  div.append(close, message instanceof ApiError ? message.lines().join("\n") : String(message?.message || message));
  box.append(div);
  if (ms) setTimeout(() => div.remove(), ms);
}
