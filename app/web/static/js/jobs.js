// Running jobs (analyses and analyze-and-repair workflows): one card each, live from SSE.
import { API, api, signed, toast } from "./api.js";
import { STAGE_WORDS, el, ms, pct } from "./format.js";

const FINAL = new Set(["completed", "failed", "cancelled", "interrupted", "deleted"]);
const jobs = new Map();
let newest = null;
let onOpen = () => {};

/** Called with (kind, id, data) when the operator opens a finished job. */
export function onOpenResult(fn) { onOpen = fn; }

function card(job) {
  const bar = el("span");
  const label = el("em");
  const line = el("div", { class: "job-line" });
  const cancel = el("button", { class: "danger small", text: "Cancel", onclick: () => cancelJob(job) });
  const open = el("button", { class: "small", text: "Show result", hidden: true, onclick: () => onOpen(job.kind, job.id, job.last) });
  const root = el("div", { class: "job", "data-id": job.id, "data-kind": job.kind, "data-status": "queued" },
    el("div", { class: "job-head" },
      el("span", { class: "job-title", title: `${job.master} → ${job.dub}`, text: job.title }),
      el("span", { class: "job-kind", text: job.kind === "workflow" ? "analyse & repair" : "analysis" }),
      cancel, open),
    el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0" }, bar, label),
    line);
  Object.assign(job, { root, bar, label, line, cancel, open });
  return root;
}

function render(job, { status, percent, stage, message, window, windows, estimate }) {
  if (status) job.status = status;
  if (percent != null) job.percent = percent;
  if (job.status === "completed") job.percent = 100;
  const p = Math.max(0, Math.min(100, job.percent || 0));
  job.root.dataset.status = job.status;
  job.bar.style.width = `${p}%`;
  job.label.textContent = `${p.toFixed(0)} %`;
  job.root.querySelector(".bar").setAttribute("aria-valuenow", p.toFixed(0));
  const parts = [job.status];
  if (stage && !FINAL.has(job.status)) parts.push(STAGE_WORDS[stage] || stage);
  if (windows) parts.push(`window ${window ?? 0}/${windows}`);
  const text = [parts.join(" · ")];
  if (message && !FINAL.has(job.status)) text.push(message);
  job.line.replaceChildren(text.join(" — "));
  if (estimate && estimate.offset_seconds != null && job.status !== "completed") {
    job.line.append(" ", el("span", { class: "estimate", text: `early estimate ${ms(estimate.offset_seconds)} (confidence ${pct(estimate.confidence)})` }));
  }
  if (job.error) job.line.append(el("div", { class: "form-error", text: job.error }));
  const done = FINAL.has(job.status);
  job.cancel.hidden = done;
  job.open.hidden = job.status !== "completed" && !(job.kind === "workflow" && done && job.status !== "deleted");
}

function fromAnalysis(d) {
  const pr = d.progress || {};
  return { status: d.status, percent: pr.percent, stage: pr.stage, message: pr.message,
           window: pr.window, windows: pr.windows, estimate: pr.estimate };
}
const fromWorkflow = (d) => ({ status: d.status, percent: d.percent, stage: d.stage, message: d.message });

async function follow(job) {
  const url = job.kind === "workflow" ? `${API}/workflows/${job.id}/status/stream` : `${API}/analysis/${job.id}/progress/stream`;
  let es;
  try {
    es = new EventSource(await signed(url));  // a signed URL: the key never goes in a URL
  } catch {
    poll(job);
    return;
  }
  job.es = es;
  const convert = job.kind === "workflow" ? fromWorkflow : fromAnalysis;
  const handle = (ev) => {
    let d;
    try { d = JSON.parse(ev.data); } catch { return; }
    job.last = { ...(job.last || {}), ...d };
    if (d.error) job.error = d.error.message || d.error.code;
    render(job, convert(d));
    if (d.final) {
      es.close();
      finished(job, d);
    }
  };
  for (const type of ["state", "status", "progress", "completed", "failed", "cancelled", "interrupted", "deleted"]) {
    es.addEventListener(type, handle);
  }
  es.onerror = () => {
    // The server closes the stream after the final event; otherwise fall back to polling.
    if (FINAL.has(job.status)) { es.close(); return; }
    es.close();
    poll(job);
  };
}

async function poll(job) {
  const url = job.kind === "workflow" ? `workflows/${job.id}/status` : `analysis/${job.id}`;
  while (!FINAL.has(job.status)) {
    try {
      const d = await api(url);
      job.last = d;
      if (d.error) job.error = d.error.message;
      render(job, job.kind === "workflow" ? fromWorkflow(d) : fromAnalysis(d));
      if (FINAL.has(d.status)) { finished(job, d); return; }
    } catch (err) {
      job.error = `Progress unavailable: ${err.message}`;
      render(job, {});
    }
    await new Promise((r) => setTimeout(r, 1500));
  }
}

function finished(job, d) {
  render(job, {});
  // the newest job's result opens by itself; older ones wait for "Show result"
  if (job.status === "completed" && job.autoOpen && job === newest) onOpen(job.kind, job.id, d);
  if (job.status === "failed" || job.status === "interrupted") {
    toast(`${job.title}: ${job.status}${job.error ? ` — ${job.error}` : ""}`);
  }
  document.dispatchEvent(new CustomEvent("job-finished", { detail: job }));
}

async function cancelJob(job) {
  job.cancel.disabled = true;
  try {
    if (job.kind === "workflow") {
      if (!confirm("Cancel this analyse & repair? Its files are removed.")) return;
      await api(`workflows/${job.id}`, { method: "DELETE" });
      render(job, { status: "cancelled" });
      job.es?.close();
    } else {
      const d = await api(`analysis/${job.id}`, { method: "DELETE" });
      render(job, fromAnalysis(d));
    }
  } catch (err) {
    toast(err);
  } finally {
    job.cancel.disabled = false;
  }
}

/** Add a card for a submitted job and follow it. */
export function track(kind, id, { master, dub, title, autoOpen = true } = {}) {
  const box = document.getElementById("jobs");
  box.querySelector(".empty")?.remove();
  const job = { kind, id, master, dub, title: title || `${(dub || id).split("/").pop()}`, status: "queued", percent: 0, autoOpen };
  jobs.set(id, job);
  newest = job;
  box.prepend(card(job));
  render(job, {});
  follow(job);
  return job;
}
