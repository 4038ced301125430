// The batch queue: pairs added by hand or from a CSV, saved on the server
// (/api/v1/ui/state/batch-queue) so it survives a reload; started as one batch of analyses.
import { api, ApiError, showError, toast } from "./api.js";
import { el, ms, pct, signed, timecode } from "./format.js";

const $ = (id) => document.getElementById(id);
const FINAL = new Set(["completed", "failed", "cancelled", "interrupted"]);
const OPTION_KEYS = ["methods", "enable_ai", "ai_model", "sample_rate", "window_size", "confidence_threshold",
  "max_offset_seconds", "master_stream", "dub_stream", "master_channel", "dub_channel"];
const NUMERIC = ["window_size", "confidence_threshold", "max_offset_seconds", "sample_rate"];

let queue = { items: [], version: 0 };
const runs = new Map();     // analysis_id -> summary from GET /analysis
let pollTimer = null;
let onOpen = () => {};
export function onOpenBatchResult(fn) { onOpen = fn; }

const newId = () => `row-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;

function setSaved(text) { $("batch-saved").textContent = text; }

/** Replace the stored queue; the table shows what the server stored (or the error). */
async function commit(items) {
  showError($("batch-error"), null);
  try {
    queue = await api("ui/state/batch-queue", { method: "POST", body: { items, expected_version: queue.version } });
    setSaved(`saved · version ${queue.version}`);
  } catch (err) {
    if (err.code === "ui_state_conflict") {
      await load();
      showError($("batch-error"), new ApiError("The queue was changed in another window meanwhile; it has been reloaded — please repeat your change."));
    } else {
      showError($("batch-error"), err);
    }
    render();
    return false;
  }
  render();
  schedulePoll();
  return true;
}

export async function load() {
  try {
    queue = await api("ui/state/batch-queue");
    setSaved(queue.version ? `restored · version ${queue.version}` : "empty");
  } catch (err) {
    setSaved("could not be loaded");
    showError($("batch-error"), err);
  }
  render();
  schedulePoll();
}

function statusOf(row) {
  if (!row.analysis_id) return "pending";
  return runs.get(row.analysis_id)?.status || "queued";
}

function render() {
  const tbody = $("batch-table").querySelector("tbody");
  const rows = queue.items.map((row, i) => {
    const run = row.analysis_id ? runs.get(row.analysis_id) : null;
    const st = statusOf(row);
    const p = st === "completed" ? 100 : run?.progress?.percent ?? 0;
    const off = run?.offset_seconds;
    const bar = el("div", { class: "bar", title: run?.progress?.message || st },
      el("span", { style: `width:${p}%` }), el("em", { text: st === "pending" ? "pending" : `${st} ${p.toFixed(0)} %` }));
    const check = el("input", { type: "checkbox", checked: row.selected !== false, "aria-label": `select row ${i + 1}`,
      onchange: (e) => commit(queue.items.map((r, j) => (j === i ? { ...r, selected: e.target.checked } : r))) });
    const actions = el("td", {},
      st === "completed" ? el("button", { class: "ghost small", text: "result", onclick: () => onOpen(row.analysis_id) }) : null,
      el("button", { class: "ghost small", text: "✕", title: "remove", disabled: st === "running" || st === "queued",
        onclick: () => commit(queue.items.filter((_, j) => j !== i)) }));
    const err = run?.error?.message;
    return el("tr", { "data-status": st, "data-id": row.id || "", title: err || null },
      el("td", {}, check),
      el("td", { text: row.episode_name || "" }),
      el("td", { class: "path", text: row.master_file, title: row.master_file }),
      el("td", { class: "path", text: row.dub_file, title: row.dub_file }),
      el("td", {}, bar),
      el("td", { class: "num", text: off != null ? signed(off * 1000, 2) : err ? "error" : "" }),
      el("td", { class: "num", text: off != null ? signed(off * 25, 2) : "" }),
      el("td", { class: "num mono", text: off != null ? timecode(off, "25") : "" }),
      el("td", { class: "num", text: run?.confidence != null ? pct(run.confidence) : "" }),
      el("td", {}, run?.verdict ? el("span", { class: `chip ${run.verdict}`, text: run.verdict.replaceAll("_", " ") })
        : err ? el("span", { class: "chip failed", text: err.slice(0, 60) }) : ""),
      actions);
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 11, class: "empty", text: "The queue is empty: add pairs above or upload a CSV." })));
  tbody.replaceChildren(...rows);
  const counts = {};
  for (const r of queue.items) counts[statusOf(r)] = (counts[statusOf(r)] || 0) + 1;
  $("batch-summary").textContent = Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(" · ");
  $("batch-count").textContent = queue.items.length ? String(queue.items.length) : "";
  $("batch-all").checked = queue.items.length > 0 && queue.items.every((r) => r.selected !== false);
}

function schedulePoll() {
  clearTimeout(pollTimer);
  const active = queue.items.filter((r) => r.analysis_id && !FINAL.has(runs.get(r.analysis_id)?.status));
  if (!active.length) return;
  pollTimer = setTimeout(poll, runs.size ? 1000 : 0);
}

async function poll() {
  const batches = new Set(queue.items.filter((r) => r.analysis_id && !FINAL.has(runs.get(r.analysis_id)?.status)).map((r) => r.batch_id || ""));
  try {
    for (const b of batches) {
      if (b) {
        const page = await api(`analysis?batch_id=${encodeURIComponent(b)}&limit=200`);
        for (const it of page.items) runs.set(it.analysis_id, it);
      } else {
        for (const r of queue.items.filter((x) => x.analysis_id && !x.batch_id)) {
          const it = await api(`analysis/${r.analysis_id}`);
          runs.set(it.analysis_id, { ...it, ...(it.result || {}) });
        }
      }
    }
    // analyses that are gone from the database
    for (const r of queue.items) if (r.analysis_id && !runs.has(r.analysis_id)) runs.set(r.analysis_id, { status: "failed", error: { message: "analysis not found" } });
  } catch (err) {
    setSaved(`progress unavailable: ${err.message}`);
  }
  render();
  schedulePoll();
}

function toCreate(row) {
  const body = { master_file: row.master_file, dub_file: row.dub_file };
  if (row.episode_name) body.label = row.episode_name;
  for (const k of OPTION_KEYS) if (row[k] != null && row[k] !== false) body[k] = row[k];
  return body;
}

async function start() {
  const pending = queue.items.filter((r) => r.selected !== false && !r.analysis_id);
  if (!pending.length) { showError($("batch-error"), new ApiError("Nothing to start: tick pending rows (or reset finished ones) first.")); return; }
  showError($("batch-error"), null);
  $("batch-start").disabled = true;
  try {
    const res = await api("analysis/batch", { method: "POST", body: { items: pending.map(toCreate), label: `dashboard ${new Date().toISOString().slice(0, 16)}` } });
    const ids = new Map(pending.map((r, i) => [r.id, res.items[i].analysis_id]));
    await commit(queue.items.map((r) => (ids.has(r.id) ? { ...r, analysis_id: ids.get(r.id), batch_id: res.batch_id } : r)));
  } catch (err) {
    if (err.code === "invalid_batch_item" && Array.isArray(err.details)) {
      err.details = err.details.map((d) => ({ ...d, message: `${pending[d.index]?.episode_name || pending[d.index]?.dub_file}: ${d.message}`, index: undefined }));
    }
    showError($("batch-error"), err);
  } finally {
    $("batch-start").disabled = false;
  }
}

async function cancelRunning() {
  const active = queue.items.filter((r) => r.analysis_id && !FINAL.has(statusOf(r)));
  for (const r of active) {
    try { await api(`analysis/${r.analysis_id}`, { method: "DELETE" }); } catch (err) { if (err.status !== 409) toast(err); }
  }
  poll();
}

/** CSV text → rows (header names as in the server's CSV batches). */
export function parseCsv(text) {
  text = text.replace(/^\uFEFF/, "");
  const first = text.split(/\r?\n/, 1)[0];
  const delim = [",", ";", "\t"].sort((a, b) => first.split(b).length - first.split(a).length)[0];
  const records = [];
  let rec = [], field = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === delim) { rec.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      rec.push(field); records.push(rec); rec = []; field = "";
    } else field += c;
  }
  if (field || rec.length) { rec.push(field); records.push(rec); }
  const rows = records.filter((r) => r.some((x) => x.trim()));
  if (!rows.length) throw new ApiError("The CSV is empty.");
  const head = rows[0].map((h) => h.trim().toLowerCase());
  const problems = [];
  if (!head.includes("master_file") || !head.includes("dub_file")) {
    throw new ApiError(`The CSV needs a header row with master_file and dub_file (found: ${head.join(", ")}).`);
  }
  const items = rows.slice(1).map((r, n) => {
    const get = (k) => { const i = head.indexOf(k); return i >= 0 ? (r[i] ?? "").trim() : ""; };
    const item = { id: newId(), master_file: get("master_file"), dub_file: get("dub_file"), selected: true };
    if (!item.master_file || !item.dub_file) problems.push({ line: n + 2, message: "master_file and dub_file are both needed" });
    if (get("episode_name")) item.episode_name = get("episode_name");
    if (get("methods")) item.methods = get("methods").split(/[|;, ]+/).filter(Boolean).map((m) => m.toLowerCase());
    for (const k of NUMERIC) {
      if (!get(k)) continue;
      const v = Number(get(k));
      if (Number.isNaN(v)) problems.push({ line: n + 2, message: `${k} '${get(k)}' is not a number` }); else item[k] = v;
    }
    return item;
  });
  if (problems.length) throw new ApiError(`${problems.length} row(s) of the CSV are invalid; nothing was added.`, { details: problems });
  return items;
}

function exportCsv() {
  const cols = ["episode_name", "master_file", "dub_file", "status", "offset_ms", "offset_frames_25", "timecode_25", "confidence", "verdict", "analysis_id", "batch_id", "error"];
  const q = (v) => { const s = v == null ? "" : String(v); return /[",\n;]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s; };
  const lines = [cols.join(",")];
  for (const r of queue.items) {
    const run = runs.get(r.analysis_id) || {};
    const off = run.offset_seconds;
    lines.push([r.episode_name, r.master_file, r.dub_file, statusOf(r), off != null ? (off * 1000).toFixed(3) : "",
      off != null ? (off * 25).toFixed(3) : "", off != null ? timecode(off, "25") : "", run.confidence != null ? run.confidence.toFixed(4) : "",
      run.verdict || "", r.analysis_id || "", r.batch_id || "", run.error?.message || ""].map(q).join(","));
  }
  const blob = new Blob([lines.join("\n") + "\n"], { type: "text/csv" });
  const a = el("a", { href: URL.createObjectURL(blob), download: `batch_results_${new Date().toISOString().slice(0, 10)}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 5000);
}

/** Add a pair (from the analysis form too). */
export async function addPair(pair) {
  if (!pair.master_file || !pair.dub_file) {
    showError($("batch-error"), new ApiError("Give both a master and a dub path."));
    return false;
  }
  // the files must exist, hold audio and lie inside the allowed folders: ask the server now
  // rather than at start (the queue itself accepts any path, for files still to be delivered)
  showError($("batch-error"), null);
  for (const path of [pair.master_file, pair.dub_file]) {
    try {
      await api(`files/probe?${new URLSearchParams({ path, deep: "false" })}`);
    } catch (err) {
      err.message = `${path}: ${err.message}`;
      showError($("batch-error"), err);
      return false;
    }
  }
  return commit([...queue.items, { id: newId(), selected: true, ...pair }]);
}

export function initBatch() {
  $("batch-add").addEventListener("submit", async (e) => {
    e.preventDefault();
    const ok = await addPair({ master_file: $("batch-master").value.trim(), dub_file: $("batch-dub").value.trim(),
      ...($("batch-episode").value.trim() ? { episode_name: $("batch-episode").value.trim() } : {}) });
    if (ok) { $("batch-dub").value = ""; $("batch-episode").value = ""; }
  });
  $("batch-csv").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (!file) return;
    try {
      const items = parseCsv(await file.text());
      if (await commit([...queue.items, ...items])) toast(`${items.length} pair(s) added from ${file.name}.`, "info", 4000);
    } catch (err) {
      showError($("batch-error"), err);
    }
  });
  $("batch-start").addEventListener("click", start);
  $("batch-cancel").addEventListener("click", cancelRunning);
  $("batch-remove").addEventListener("click", () => {
    const keep = queue.items.filter((r) => r.selected === false || ["running", "queued"].includes(statusOf(r)));
    commit(keep);
  });
  $("batch-reset").addEventListener("click", () => commit(queue.items.map((r) => (FINAL.has(statusOf(r)) ? { ...r, analysis_id: null, batch_id: null } : r))));
  $("batch-export").addEventListener("click", exportCsv);
  $("batch-all").addEventListener("change", (e) => commit(queue.items.map((r) => ({ ...r, selected: e.target.checked }))));
  return load();
}
