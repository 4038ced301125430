// The batch queue: pairs added by hand or from a CSV, saved on the server
// (/api/v1/ui/state/batch-queue) so it survives a reload; started as one batch of analyses.
import { api, ApiError, showError, toast } from "./api.js";
import { el, ms, pct, signed, timecode } from "./format.js";

const $ = (id) => document.getElementById(id);
const FINAL = new Set(["completed", "failed", "cancelled", "interrupted"]);
const OPTION_KEYS = ["methods", "enable_ai", "ai_model", "sample_rate", "window_size", "confidence_threshold",
  "max_offset_seconds", "master_stream", "dub_stream", "master_channel", "dub_channel"];
// the columns of a one-row CSV that checks a pair added by hand (the server's batch CSV columns)
const PAIR_COLUMNS = ["master_file", "dub_file", "episode_name", "auto_repair", ...OPTION_KEYS];

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
      el("td", {}, run?.qc_status ? el("span", { class: `chip qc-${run.qc_status.toLowerCase()}`, text: run.qc_status,
        title: run.max_abs_offset_ms != null ? `QC ${run.qc_status}: largest |offset| ${run.max_abs_offset_ms.toFixed(1)} ms` : null }) : null,
        run?.qc_status && run?.verdict ? " " : null,
        run?.verdict ? el("span", { class: `chip ${run.verdict}`, text: run.verdict.replaceAll("_", " ") })
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
          const qc = it.result?.qc;
          runs.set(it.analysis_id, { ...it, ...(it.result || {}), qc_status: qc?.status, max_abs_offset_ms: qc?.max_abs_offset_ms });
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

/** Ask the server's CSV parser and checks (POST analysis/batch/csv/validate, nothing stored)
 *  about a CSV: queue rows for every row that passes; an ApiError listing each problem with
 *  its line (the server's words) when any row fails, so nothing is added then. */
export async function validateCsv(file) {
  const form = new FormData();
  form.append("file", file, file.name || "pairs.csv");
  const checked = await api("analysis/batch/csv/validate", { method: "POST", form });
  if (!checked.valid) {
    const n = checked.invalid_rows;
    throw new ApiError(`${n} row(s) of ${file.name || "the CSV"} are invalid; nothing was added.`,
      { code: "invalid_csv", details: checked.errors.map((e) => e.message) });   // each starts "line N"
  }
  const items = checked.rows.map((r) => ({
    id: newId(), selected: true, master_file: r.master_file, dub_file: r.dub_file,
    ...(r.episode_name ? { episode_name: r.episode_name } : {}),
    ...(r.auto_repair ? { auto_repair: true } : {}), ...r.options }));
  return { items, warnings: checked.warnings || [] };
}

/** A spreadsheet cell as the server writes one (app/services/text_safety.py csv_cell): a
 *  leading ' when the text would start a formula (= + - @ tab CR). */
export function csvCell(value) {
  const s = value == null ? "" : String(value);
  return /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
}

/** One CSV field: quoted when it holds a separator, a quote or a line break. */
const quote = (v) => { const s = v == null ? "" : String(v); return /[",\n\r;]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s; };

function exportCsv() {
  const cols = ["episode_name", "master_file", "dub_file", "status", "qc", "offset_ms", "max_abs_offset_ms", "offset_frames_25", "timecode_25", "confidence", "verdict", "analysis_id", "batch_id", "error"];
  const lines = [cols.join(",")];
  for (const r of queue.items) {
    const run = runs.get(r.analysis_id) || {};
    const off = run.offset_seconds;
    // text cells are neutralised like the server's CSV (csv_cell); numbers are written as numbers
    const text = (v) => csvCell(v || "");
    lines.push([text(r.episode_name), text(r.master_file), text(r.dub_file), statusOf(r), run.qc_status || "",
      off != null ? (off * 1000).toFixed(3) : "", run.max_abs_offset_ms != null ? run.max_abs_offset_ms.toFixed(1) : "",
      off != null ? (off * 25).toFixed(3) : "", off != null ? timecode(off, "25").replace(/^\+/, "") : "", run.confidence != null ? run.confidence.toFixed(4) : "",
      text(run.verdict), text(r.analysis_id), text(r.batch_id), text(run.error?.message)].map(quote).join(","));
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
  // checked now by the server, as a one-row CSV through the same parser and checks as an
  // imported one (paths inside the allowed folders, files that exist and hold audio)
  showError($("batch-error"), null);
  const cols = PAIR_COLUMNS.filter((k) => pair[k] != null && pair[k] !== "");
  const cell = (v) => (Array.isArray(v) ? v.join("|") : String(v));
  const text = `${cols.join(",")}\n${cols.map((k) => quote(cell(pair[k]))).join(",")}\n`;
  try {
    const { items } = await validateCsv(new File([text], "pair.csv", { type: "text/csv" }));
    if (items.length !== 1) throw new ApiError("The pair could not be read as a row (a path starting with # reads as a comment).");
    return commit([...queue.items, { ...items[0], ...pair }]);
  } catch (err) {
    if (err.code === "invalid_csv") {   // the server's words, without the one-row CSV's line number
      err.message = "The pair cannot be added:";
      err.details = (err.details || []).map((d) => d.replace(/^line \d+(, |: )/, ""));
    }
    showError($("batch-error"), err);
    return false;
  }
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
    showError($("batch-error"), null);
    try {
      const { items, warnings } = await validateCsv(file);
      if (await commit([...queue.items, ...items])) {
        toast([`${items.length} pair(s) added from ${file.name}.`, ...warnings].join("\n"), "info", 4000);
      }
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
