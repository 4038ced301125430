// Calls to the service's API. Every failure becomes an ApiError whose message is in words.
export const API = "/api/v1";

// API keys (API_KEYS on the server): asked once on a 401, kept in this browser's localStorage,
// sent as X-API-Key. URLs the browser fetches by itself (EventSource, <audio>, links) never carry
// the key: they are signed by the server (GET /auth/signed-url: a short-lived HMAC for that one
// URL), and links under /api/ are signed again when clicked close to (or after) their expiry.
const KEY_STORE = "syncAnalyzer.apiKey";
const storedKey = () => { try { return localStorage.getItem(KEY_STORE) || ""; } catch { return ""; } };
const keyHeaders = () => (storedKey() ? { "X-API-Key": storedKey() } : {});
/** seconds before expiry at which a signed URL is signed again before use */
const RESIGN_MARGIN_S = 30;

/** The X-API-Key header (empty without a stored key), for fetch calls made directly. */
export const authHeaders = () => keyHeaders();

/** ``url`` without any signature and with the expiry of the one it had (0: none). */
function unsign(url) {
  const u = new URL(url, location.origin);
  const expires = Number(u.searchParams.get("expires") || 0);
  u.searchParams.delete("expires");
  u.searchParams.delete("signature");
  u.searchParams.delete("api_key");
  return { url: u.pathname + u.search, expires };
}

/** Whether ``url`` (maybe signed) needs a fresh signature before the browser loads it. */
export function needsSigning(url) {
  if (!storedKey() || !url || !url.startsWith(`${API}/`)) return false;
  const { expires } = unsign(url);
  return expires - Date.now() / 1000 < RESIGN_MARGIN_S;
}

/** The URLs signed by the server when a key is stored (unchanged otherwise), in order. */
export async function signedMany(urls) {
  if (!storedKey() || !urls.length) return urls;
  const query = new URLSearchParams();
  for (const url of urls) query.append("url", unsign(url).url);
  const data = await api(`auth/signed-url?${query}`);
  return data.items.map((item) => item.url);
}

/** One URL signed (see signedMany). */
export async function signed(url) {
  return (await signedMany([url]))[0];
}

/** Deprecated: URLs are no longer given the key (use ``signed``); links are signed on click. */
export const withKey = (url) => url;

// Links to the API (reports, downloads) clicked with a key stored: signed first when their
// signature is missing or about to expire, then followed as the browser would have.
document.addEventListener("click", async (event) => {
  const a = event.target instanceof Element ? event.target.closest("a[href]") : null;
  if (!a || a.dataset.signing || event.defaultPrevented || event.button !== 0) return;
  const href = a.getAttribute("href");
  if (!needsSigning(href)) return;
  event.preventDefault();
  a.dataset.signing = "1";
  try {
    a.setAttribute("href", await signed(href));
    a.click();
  } catch (err) {
    toast(err);
  } finally {
    delete a.dataset.signing;
  }
});

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
