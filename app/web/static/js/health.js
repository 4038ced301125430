// Health panel: GET /api/v1/health (a 503 still carries the report).
import { ApiError, authHeaders } from "./api.js";
import { bytes, el } from "./format.js";

const $ = (id) => document.getElementById(id);
let last = null;

export const lastHealth = () => last;

function card(title, status, rows, extra) {
  return el("div", { class: "hcard", "data-status": status || "unknown" },
    el("h3", {}, el("span", { text: title }), el("span", { class: `chip ${status === "ok" ? "completed" : status === "error" ? "failed" : "queued"}`, text: status || "?" })),
    el("dl", {}, rows.filter(([, v]) => v != null && v !== "").flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v)])),
    extra || null);
}

function disk(folder) {
  if (!folder) return null;
  const used = folder.total_bytes ? 1 - folder.free_bytes / folder.total_bytes : 0;
  return el("span", {}, `${bytes(folder.free_bytes)} free of ${bytes(folder.total_bytes)}${folder.writable ? "" : " · not writable"}${folder.exists ? "" : " · missing"}`,
    el("div", { class: "meter" }, el("span", { style: `width:${(used * 100).toFixed(0)}%` })));
}

function gpuText(gpu) {
  if (!gpu || gpu === "none") return "none (CPU only)";
  if (typeof gpu === "string") return gpu;
  const list = gpu.devices || gpu.gpus || (Array.isArray(gpu) ? gpu : null);
  if (Array.isArray(list)) {
    const via = gpu.source ? ` (via ${gpu.source})` : "";
    return list.map((g) => `${g.name || "GPU"}${g.memory_total_bytes ? ` · ${g.memory_used_bytes != null ? `${bytes(g.memory_used_bytes)} used of ` : ""}${bytes(g.memory_total_bytes)}` : ""}`).join(", ") + via;
  }
  return Object.entries(gpu).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ");
}

export async function refreshHealth() {
  const badge = $("health-badge");
  let h;
  try {
    // open to everyone; with API keys on, the details come only with a key
    const r = await fetch("/api/v1/health", { headers: { Accept: "application/json", ...authHeaders() } });
    h = await r.json();
    if (!h || !h.components) throw new ApiError(h?.error?.message || `HTTP ${r.status}`);
  } catch (err) {
    badge.dataset.status = "unreachable";
    badge.textContent = "service unreachable";
    $("health").replaceChildren(el("div", { class: "form-error", text: `Health could not be read: ${err.message}` }));
    return null;
  }
  last = h;
  badge.dataset.status = h.status;
  const bad = Object.entries(h.components).filter(([, s]) => s === "error" || s === "degraded").map(([k]) => k);
  badge.textContent = h.status === "ok" ? "healthy" : `${h.status}: ${bad.join(", ")}`;
  if (!h.ffmpeg) {  // API keys on and no key stored yet: statuses only
    $("health").replaceChildren(el("p", { class: "muted", text: `${Object.entries(h.components).map(([k, v]) => `${k}: ${v}`).join(" · ")} — ${h.details || "details need an API key"}` }));
    return h;
  }
  const ai = h["ai-models"] || h.ai_models || {};
  const fs = h.filesystem || {};
  const sys = h.system || {};
  const jobs = h.jobs || {};
  const db = h.database || {};
  $("health").replaceChildren(
    card("ffmpeg", h.ffmpeg?.status, [["ffmpeg", h.ffmpeg?.version || "missing"], ["path", h.ffmpeg?.path], ["ffprobe", h.ffmpeg?.ffprobe_version || h.ffmpeg?.ffprobe?.version]]),
    card("AI models", ai.status, [["enabled", (ai.enabled || []).join(", ") || "none"],
      ...(ai.models || []).map((m) => [m.name, m.available ? "available" : `unavailable${m.reason ? `: ${m.reason}` : ""}`]),
      ["cache", ai.cache_dir], ["use GPU", ai.use_gpu ? "yes" : "no"]]),
    card("GPU", sys.gpu && sys.gpu !== "none" ? "ok" : "disabled", [["GPUs", gpuText(sys.gpu)], ["CPUs", sys.cpu_count],
      ["CPU use", sys.cpu_percent != null ? `${sys.cpu_percent.toFixed(0)} %` : null],
      ["load", (sys.load_average || []).map((x) => x.toFixed(2)).join(" ")]]),
    card("Disk", fs.status, [["shared storage", fs.mount?.path], ["", disk(fs.mount)], ["uploads", fs.upload?.path], ["", disk(fs.upload)],
      ["output", fs.output?.path], ["", disk(fs.output)], ["", fs.output?.note]]),
    card("Jobs", jobs.status, [["workers", `${jobs.busy ?? "?"} busy of ${jobs.workers ?? "?"}`], ["queued here", jobs.queued_here], ["live streams", jobs.subscribers], ["accepting", jobs.accepting ? "yes" : "no"]]),
    card("Recent job errors", h["job-errors"]?.status, [["note", h["job-errors"]?.note],
      ...(h["job-errors"]?.recent || []).slice(0, 3).map((f) => [`${f.kind} ${f.status}`, `${f.code}: ${f.message}`]),
      ...((h["job-errors"]?.recent || []).length ? [] : [["last hour", "none"]])]),
    card("Database", db.status || h.components.database, [["url", db.url], ["latency", db.latency_ms != null ? `${Number(db.latency_ms).toFixed(1)} ms` : null],
      ["analyses", db.analyses ? Object.entries(db.analyses).map(([k, v]) => `${v} ${k}`).join(", ") : null]]),
  );
  $("health-time").textContent = `${h.service} · engine ${h.engine_version} · up ${Math.round(h.uptime_seconds)} s · read ${new Date().toLocaleTimeString()}`;
  return h;
}
