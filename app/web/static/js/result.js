// The result panel: verdict in words, offset in ms/frames/timecode, confidence, methods,
// the timeline chart, reports and downloads, and the listening controls.
import { API, api, showError, signedMany } from "./api.js";
import { el, ms, pct, signed, timecode, verdictWords } from "./format.js";
import { setMoment, setPair } from "./preview.js";
import { drawTimeline, modelOffsetAt } from "./timeline.js";

const $ = (id) => document.getElementById(id);
let shown = null;   // {kind, id, analysis, result, timeline, workflow}

function fpsKey() { return $("fps").value; }

function renderFigures() {
  const r = shown?.result;
  if (!r) return;
  const key = fpsKey();
  $("verdict").dataset.verdict = r.verdict;
  $("verdict").textContent = verdictWords(r, key);
  $("r-offset-ms").textContent = ms(r.offset_seconds, 2);
  const frames = r.offset_frames?.[key];
  $("r-frames").textContent = frames != null ? signed(frames, 2)
    : r.offset_seconds != null ? signed(r.offset_seconds * Number(key), 2) : "–";
  const tc = r.timecodes?.[key];
  $("r-timecode").textContent = tc ? (/^[-+]/.test(tc) ? tc : `${r.offset_seconds < 0 ? "-" : "+"}${tc}`)
    : timecode(r.offset_seconds, key);
  $("r-confidence").textContent = pct(r.confidence);
  $("r-reason").textContent = r.reason || "";
  $("r-findings").textContent = (r.findings || []).join(" · ") + (r.polarity_inverted ? " Polarity inverted." : "");
  renderQc(r.qc);
}

/** The QC gate's verdict (result.qc): PASS / WARN / FAIL, the tolerance, the worst offset and
 *  where, start → end and the largest |offset| when they differ, the reason in words. */
function renderQc(qc) {
  const box = $("r-qc");
  box.hidden = !qc;
  if (!qc) { delete box.dataset.status; return; }
  box.dataset.status = qc.status;
  $("r-qc-status").textContent = `QC ${qc.status}`;
  const t = qc.tolerance || {};
  const bits = [];
  if (t.early_ms != null) bits.push(`tolerance ${t.name}${t.fps ? ` at ${t.fps} fps` : ""}: ${t.early_ms.toFixed(1)} ms early, ${t.late_ms.toFixed(1)} ms late`);
  if (qc.worst_offset_ms != null) bits.push(`worst ${signed(qc.worst_offset_ms, 1)} ms${qc.worst_at_timecode ? ` at ${qc.worst_at_timecode}` : ""}`);
  if (qc.offset_start_ms != null && qc.offset_end_ms !== qc.offset_start_ms) {
    bits.push(`${signed(qc.offset_start_ms, 1)} ms at the start → ${signed(qc.offset_end_ms, 1)} ms at the end`);
  }
  if (qc.max_abs_offset_ms != null && qc.max_abs_offset_ms !== Math.abs(qc.worst_offset_ms ?? NaN)) {
    bits.push(`largest |offset| ${qc.max_abs_offset_ms.toFixed(1)} ms${qc.max_abs_at_timecode ? ` at ${qc.max_abs_at_timecode}` : ""}`);
  }
  $("r-qc-limits").textContent = bits.join(" · ");
  $("r-qc-reason").textContent = qc.reason ? `${qc.reason.charAt(0).toUpperCase()}${qc.reason.slice(1)}.` : "";
}

function renderMethods(methods = []) {
  const tbody = $("methods-table").querySelector("tbody");
  tbody.replaceChildren(...methods.map((m) => el("tr", { title: m.reason || null },
    el("td", { text: m.status === "unavailable" ? `${m.method} (unavailable: ${m.reason})` : m.method }),
    el("td", { class: "num", text: m.offset_seconds == null ? "none" : signed(m.offset_seconds * 1000, 2) }),
    el("td", { class: "num", text: pct(m.confidence) }),
    el("td", { class: "num", text: m.peak_ratio != null ? m.peak_ratio.toFixed(2) : "–" }),
    el("td", { class: "num", text: m.elapsed_seconds != null ? m.elapsed_seconds.toFixed(2) : "–" }))));
  if (!methods.length) tbody.append(el("tr", {}, el("td", { colspan: 5, class: "empty", text: "No per-method results." })));
}

let linksTicket = 0;

/** The reports and downloads; with an API key stored their hrefs are signed URLs (the key
 *  itself never goes in a URL; api.js signs a link again when it is clicked once stale). */
async function renderLinks(items) {
  const mine = ++linksTicket;
  const anchors = items.map(([label, href, download]) =>
    el("a", { href, target: download ? null : "_blank", download: download || null, rel: "noopener", text: label }));
  $("r-links").replaceChildren(...anchors.map((a) => el("li", {}, a)));
  try {
    const urls = await signedMany(items.map(([, href]) => href));
    if (mine === linksTicket) anchors.forEach((a, i) => a.setAttribute("href", urls[i]));
  } catch { /* left unsigned: signed when clicked */ }
}

async function renderTimeline() {
  const box = $("timeline");
  const summary = $("timeline-summary");
  if (!shown || shown.kind !== "analysis") return;
  let tl = shown.timeline;
  if (!tl && shown.kind === "analysis") {
    try {
      tl = await api(`analysis/sync/${shown.id}/timeline?fps=${fpsKey()}`);
      shown.timeline = tl;
    } catch (err) {
      box.replaceChildren(el("p", { class: "empty", text: `Timeline unavailable: ${err.message}` }));
      return;
    }
  }
  if (!tl) {
    box.replaceChildren(el("p", { class: "empty", text: "No timeline for this job." }));
    summary.textContent = "";
    return;
  }
  const dur = shown.result?.master?.duration_seconds || 0;
  drawTimeline(box, tl, { duration: dur, onPick: (t) => setMoment(t), cursor: Number($("preview-at").value) });
  const bits = [`model: ${tl.model}`, `coverage ${pct(tl.coverage)}`, `windows of ${tl.window_seconds} s`];
  if (tl.drift) bits.push(`drift ${tl.drift.ppm.toFixed(0)} ppm${tl.drift.conversion ? ` (${tl.drift.conversion})` : ""}, ${signed(tl.drift.total_seconds * 1000, 1)} ms over the programme`);
  if (tl.edits?.length) bits.push(`${tl.edits.length} edit(s): ` + tl.edits.map((e) => `${e.kind} ${e.duration_seconds.toFixed(2)} s at ${e.master_timecode}`).join("; "));
  summary.textContent = bits.join(" · ");
}

let evidenceTicket = 0;

/** The server's evidence plots of the analysis shown (PNG, GET /reports/{id}/plots/...): the
 *  master vs dub envelopes, and for drift and edits the offset of each window; hidden when a
 *  plot does not apply or cannot be made (files gone). */
async function renderEvidence() {
  const mine = ++evidenceTicket;
  const box = $("evidence");
  const r = shown?.result;
  const plots = [["r-plot-envelope", "envelope", r?.offset_seconds != null],
    ["r-plot-windows", "windows", ["drift", "edited"].includes(r?.verdict)]];
  box.hidden = !(shown?.kind === "analysis" && r?.offset_seconds != null);
  if (box.hidden) return;
  const urls = plots.map(([, name]) => `${API}/reports/${shown.id}/plots/${name}?fps=${fpsKey()}`);
  let srcs = urls;
  try { srcs = await signedMany(urls); } catch { srcs = urls; }
  if (mine !== evidenceTicket) return;
  plots.forEach(([elId, , wanted], i) => {
    const img = $(elId);
    img.hidden = !wanted;
    if (wanted) img.src = srcs[i]; else img.removeAttribute("src");
  });
}

function offsetAtFn() {
  return (t) => modelOffsetAt(shown?.timeline, t) ?? shown?.result?.offset_seconds ?? 0;
}

function open() {
  $("result-empty").hidden = true;
  $("result-body").hidden = false;
}

let ticket = 0;   // the latest request to show something: slower earlier ones are dropped

/** Show a completed (or failed) analysis by id. */
export async function showAnalysis(id) {
  const mine = ++ticket;
  await renderAnalysis(id, mine, null);
}

/** Render analysis ``id``; ``wf`` (a workflow's view) adds its decision, stages and downloads. */
async function renderAnalysis(id, mine, wf) {
  let a;
  try {
    a = await api(`analysis/${id}`);
  } catch (err) {
    if (mine !== ticket) return;
    $("result-empty").hidden = false;
    showError($("result-empty"), err);
    return;
  }
  if (mine !== ticket) return;
  open();
  shown = { kind: "analysis", id, analysis: a, result: a.result, timeline: null, workflow: wf };
  $("result").dataset.analysisId = id;
  if (wf) $("result").dataset.workflowId = wf.workflow_id;
  else delete $("result").dataset.workflowId;
  renderWorkflow(wf);
  const repairLinks = wf ? workflowLinks(wf) : [];
  if (!a.result) {
    $("verdict").dataset.verdict = "failed";
    $("verdict").textContent = `${a.status}: ${a.error?.message || a.progress?.message || "no result"}`;
    for (const k of ["r-offset-ms", "r-frames", "r-timecode", "r-confidence"]) $(k).textContent = "–";
    $("r-reason").textContent = "";
    $("r-findings").textContent = "";
    renderQc(null);
    evidenceTicket++; $("evidence").hidden = true;
    renderMethods([]);
    $("timeline").replaceChildren();
    $("timeline-summary").textContent = "";
    renderLinks(repairLinks);
    return;
  }
  renderFigures();
  if (a.warnings?.length) $("r-findings").textContent = [$("r-findings").textContent, ...a.warnings].filter(Boolean).join(" · ");
  renderMethods(a.result.methods);
  const rep = `${API}/reports/${id}`;
  renderLinks([
    ...repairLinks,
    ["Formatted report (HTML)", `${rep}/formatted?format=html`],
    ["Report as text", `${rep}/formatted?format=text`],
    ["Report as Markdown (download)", `${rep}/formatted?format=markdown&download=true`, `${id}.md`],
    ["Full report (JSON)", rep],
    ["Timeline (JSON)", `${API}/analysis/sync/${id}/timeline?fps=${fpsKey()}`],
    ...(a.result.offset_seconds != null && a.result.verdict !== "no_reliable_match" ? [
      ["Conform EDL (CMX 3600)", `${API}/analysis/sync/${id}/conform?format=edl`, `${id}_conform.edl`],
      ["Conform OTIO", `${API}/analysis/sync/${id}/conform?format=otio`, `${id}_conform.otio`],
      ["Conform FCP XML", `${API}/analysis/sync/${id}/conform?format=fcpxml`, `${id}_conform.xml`],
    ] : []),
    ...(a.result.offset_seconds != null ? [["Plot: offset over the programme (PNG)", `${rep}/plots/timeline?fps=${fpsKey()}`]] : []),
    ["Analysis record (JSON)", `${API}/analysis/${id}`],
  ]);
  setPair(a.master_file, a.dub_file, offsetAtFn());
  renderEvidence();
  await renderTimeline();
}

const FILE_NAMES = {
  repaired: "Repaired audio", package: "ZIP package (audio, reports, plots, checksums)",
  formatted: "Repair report (HTML)", report: "Repair report (JSON)", plots: "Plots (ZIP of PNG)",
};
const FILE_ORDER = ["repaired", "package", "formatted", "report", "plots"];

/** A workflow's downloads, in FILE_ORDER, as renderLinks items. */
function workflowLinks(wf) {
  const files = Object.entries(wf.files || {}).sort(([a], [b]) => FILE_ORDER.indexOf(a) - FILE_ORDER.indexOf(b));
  const items = files.map(([k, href]) => [FILE_NAMES[k] || k, href, k === "formatted" ? null : true]);
  items.push(["Workflow status (JSON)", `${API}/workflows/${wf.workflow_id}/status`]);
  return items;
}

/** The workflow's part of the result (decision, verification, outcome, stages), or hide it. */
function renderWorkflow(wf) {
  const box = $("workflow-info");
  box.hidden = !wf;
  if (!wf) return;
  const d = wf.decision;
  const decision = d ? `Decision: ${d.action}${d.kind ? ` (${d.kind})` : ""} — ${d.reason}.` : "No decision.";
  const ver = wf.result?.verification;
  const residual = ver?.residual_offset_seconds ?? ver?.residual_seconds;
  const verText = ver ? ` Verification: ${ver.passed === false ? "FAILED" : "passed"}${residual != null ? `, residual ${ms(residual, 3)}` : ""}.` : "";
  $("wf-decision").textContent = `${decision}${verText} Outcome: ${wf.outcome || wf.status}.`;
  $("wf-error").textContent = wf.error?.message || "";
  $("workflow-stages").querySelector("tbody").replaceChildren(...(wf.stages || []).map((st) => el("tr", {},
    el("td", { text: st.name }),
    el("td", {}, el("span", { class: `chip ${st.status === "done" ? "completed" : st.status === "failed" ? "failed" : "queued"}`, text: st.status })),
    el("td", { text: st.message || "" }))));
}

/** Show a finished analyze-and-repair workflow (its data from the status or final event): its
 *  analysis in the same view as any analysis, with the decision, stages and repair downloads. */
export async function showWorkflow(id, data) {
  const mine = ++ticket;
  let wf = data;
  if (!wf || !wf.stages || !wf.files) {
    try { wf = await api(`workflows/${id}/status`); } catch (err) {
      if (mine === ticket) showError($("result-empty"), err);
      return;
    }
  }
  if (mine !== ticket) return;
  const analysisId = wf.analysis_id || wf.result?.analysis?.analysis_id;
  if (analysisId) { await renderAnalysis(analysisId, mine, wf); return; }
  // no analysis recorded (it failed or was cancelled before one): the workflow's own account
  open();
  const head = wf.result?.analysis || {};
  shown = { kind: "workflow", id, workflow: wf, result: { ...head, offset_frames: {} }, timeline: null };
  delete $("result").dataset.analysisId;
  $("result").dataset.workflowId = id;
  renderWorkflow(wf);
  evidenceTicket++; $("evidence").hidden = true;
  if (head.verdict) renderFigures();
  else {
    $("verdict").dataset.verdict = "failed";
    $("verdict").textContent = `${wf.status}: ${wf.error?.message || wf.message || "no result"}`;
    for (const k of ["r-offset-ms", "r-frames", "r-timecode", "r-confidence"]) $(k).textContent = "–";
    $("r-reason").textContent = "";
    $("r-findings").textContent = "";
    renderQc(null);
  }
  renderMethods([]);
  renderLinks(workflowLinks(wf));
  $("timeline").replaceChildren(el("p", { class: "empty", text: "No analysis was recorded for this workflow, so there is no timeline." }));
  $("timeline-summary").textContent = "";
  setPair(wf.master_file, wf.dub_file, offsetAtFn());
}

export function initResult() {
  for (const id of ["r-plot-envelope", "r-plot-windows"]) {
    $(id).addEventListener("error", (e) => { if (e.target.getAttribute("src")) e.target.hidden = true; });
  }
  $("fps").addEventListener("change", () => {
    renderFigures();
    renderEvidence();
    if (shown?.kind === "analysis") { shown.timeline = null; renderTimeline(); }
  });
  let resize;
  window.addEventListener("resize", () => { clearTimeout(resize); resize = setTimeout(renderTimeline, 150); });
}
