// Dashboard entry point: tabs, the analysis form, recent analyses; wires the other modules.
import { api, ApiError, showError, toast } from "./api.js";
import { addPair, initBatch, onOpenBatchResult } from "./batch.js";
import { initFileBrowser } from "./files.js";
import { el, ms } from "./format.js";
import { lastHealth, refreshHealth } from "./health.js";
import { onOpenResult, track } from "./jobs.js";
import { initPreview } from "./preview.js";
import { initResult, showAnalysis, showWorkflow } from "./result.js";

const $ = (id) => document.getElementById(id);

function selectTab(name) {
  for (const b of document.querySelectorAll("[data-tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const p of document.querySelectorAll(".tab-panel")) p.hidden = p.id !== `tab-${name}`;
  if (name === "health") refreshHealth();
  history.replaceState(null, "", `#${name}`);
}

/** The analysis options of the form (only those set: the server fills in its defaults). */
function formOptions() {
  const f = $("analysis-form");
  const body = { master_file: f.master_file.value.trim(), dub_file: f.dub_file.value.trim() };
  const methods = [...f.querySelectorAll("input[name=methods]:checked")].map((c) => c.value);
  if (methods.length) body.methods = methods;
  else body.methods = [];  // the server explains that at least one is needed
  if (f.enable_ai.checked) { body.enable_ai = true; if (f.ai_model.value) body.ai_model = f.ai_model.value; }
  for (const k of ["max_offset_seconds", "confidence_threshold", "window_size", "sample_rate", "dub_channel"]) {
    if (f[k].value !== "") body[k] = Number(f[k].value);
  }
  return body;
}

async function submit(kind) {
  const f = $("analysis-form");
  const err = $("form-error");
  showError(err, null);
  const opts = formOptions();
  const label = f.label.value.trim();
  let body, path;
  if (kind === "workflow") {
    path = "workflows/analyze-and-repair";
    body = { master_file: opts.master_file, dub_file: opts.dub_file, auto_repair: f.auto_repair.checked,
      frame_rate: Number(f.frame_rate.value) };
    if (label) body.episode_name = label;
    for (const k of ["max_offset_seconds", "sample_rate"]) if (opts[k] != null) body[k] = opts[k];
  } else {
    path = "analysis/sync";
    body = { ...opts, ...(label ? { label } : {}) };
  }
  const buttons = [$("start-analysis"), $("start-workflow")];
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const res = await api(path, { method: "POST", body });
    const id = res.analysis_id || res.workflow_id;
    track(kind, id, { master: body.master_file, dub: body.dub_file, title: label || body.dub_file.split("/").pop() });
  } catch (e) {
    showError(err, e);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

async function loadRecent() {
  const ul = $("recent");
  try {
    const page = await api("analysis?limit=15");
    ul.replaceChildren(...page.items.map((a) => el("li", { onclick: () => showAnalysis(a.analysis_id), title: `${a.master_file} → ${a.dub_file}\n${a.analysis_id}` },
      el("span", { class: `chip ${a.status}`, text: a.status }),
      el("span", { class: "name", text: a.label || a.dub_file.split("/").pop() }),
      el("span", { class: "mono", text: a.offset_seconds != null ? ms(a.offset_seconds, 1) : "" }),
      a.verdict ? el("span", { class: `chip ${a.verdict}`, text: a.verdict.replaceAll("_", " ") }) : null)));
    if (!page.items.length) ul.replaceChildren(el("li", { class: "empty", text: "None yet." }));
  } catch (e) {
    ul.replaceChildren(el("li", { class: "form-error", text: `Could not list analyses: ${e.message}` }));
  }
}

async function fillAiModels() {
  const h = lastHealth() || await refreshHealth();
  const ai = h?.["ai-models"] || h?.ai_models;
  const select = $("ai-model");
  const models = (ai?.models || []).length ? ai.models : (ai?.enabled || []).map((name) => ({ name, available: true }));
  if (!models.length) {
    $("enable-ai").disabled = true;
    $("ai-hint").textContent = "no AI model is enabled on this server (ENABLED_AI_MODELS)";
    return;
  }
  select.replaceChildren(...models.map((m) => el("option", { value: m.name, disabled: !m.available,
    text: `${m.name}${m.available ? "" : " (unavailable)"}` })));
  $("enable-ai").disabled = false;
  $("ai-hint").textContent = "";
}

async function init() {
  for (const b of document.querySelectorAll("[data-tab]")) b.addEventListener("click", () => selectTab(b.dataset.tab));
  $("health-badge").addEventListener("click", () => selectTab("health"));
  $("health-refresh").addEventListener("click", refreshHealth);
  initFileBrowser();
  initPreview();
  initResult();
  onOpenResult((kind, id, data) => (kind === "workflow" ? showWorkflow(id, data) : showAnalysis(id)));
  onOpenBatchResult((id) => { selectTab("analyse"); showAnalysis(id); });
  $("analysis-form").addEventListener("submit", (e) => { e.preventDefault(); submit("analysis"); });
  $("start-workflow").addEventListener("click", () => submit("workflow"));
  $("add-to-batch").addEventListener("click", async () => {
    const f = $("analysis-form");
    const o = formOptions();
    const pair = { master_file: o.master_file, dub_file: o.dub_file };
    if (f.label.value.trim()) pair.episode_name = f.label.value.trim();
    if (o.methods?.length && o.methods.length < 4) pair.methods = o.methods;
    if (await addPair(pair)) toast("Added to the batch queue.", "info", 3000);
    else showError($("form-error"), new ApiError("Could not add to the batch queue: see the Batch queue tab."));
  });
  $("enable-ai").addEventListener("change", (e) => { $("ai-model").disabled = !e.target.checked; });
  $("refresh-recent").addEventListener("click", loadRecent);
  document.addEventListener("job-finished", loadRecent);
  const tab = location.hash.slice(1);
  selectTab(["analyse", "batch", "health"].includes(tab) ? tab : "analyse");
  await Promise.all([refreshHealth().then(fillAiModels), loadRecent(), initBatch()]);
  setInterval(refreshHealth, 30000);
  document.body.dataset.ready = "true";
}

window.addEventListener("unhandledrejection", (e) => toast(e.reason instanceof ApiError ? e.reason : `Unexpected error: ${e.reason?.message || e.reason}`));
init().catch((e) => toast(e));
