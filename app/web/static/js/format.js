// Numbers as operators read them. Sign convention: offset > 0 = dub late.
export const FPS_KEYS = ["23.976", "24", "25", "29.97", "30"];
const EXACT = { "23.976": 24000 / 1001, "29.97": 30000 / 1001 };

export const fpsValue = (key) => EXACT[key] ?? Number(key);

export function ms(seconds, digits = 1) {
  if (seconds == null || Number.isNaN(seconds)) return "–";
  const v = seconds * 1000;
  return `${v > 0 ? "+" : v < 0 ? "−" : "±"}${Math.abs(v).toFixed(digits)} ms`;
}

export function signed(v, digits = 2) {
  if (v == null || Number.isNaN(v)) return "–";
  return `${v > 0 ? "+" : v < 0 ? "−" : "±"}${Math.abs(v).toFixed(digits)}`;
}

export const pct = (x) => (x == null ? "–" : `${Math.round(x * 100)} %`);

/** Signed timecode of an offset at fps (drop-frame at 29.97), for when the server gave none. */
export function timecode(seconds, key = "25") {
  if (seconds == null) return "–";
  const fps = fpsValue(key);
  const nominal = Math.round(fps);
  let frames = Math.round(Math.abs(seconds) * fps);
  const drop = key === "29.97";
  if (drop) {
    const perMin = 60 * 30 - 2, per10 = 10 * 60 * 30 - 9 * 2;
    const d = Math.floor(frames / per10), m = frames % per10;
    frames += 18 * d + (m > 2 ? 2 * Math.floor((m - 2) / perMin) : 0);
  }
  const f = frames % nominal, s = Math.floor(frames / nominal) % 60;
  const mi = Math.floor(frames / (nominal * 60)) % 60, h = Math.floor(frames / (nominal * 3600));
  const p = (n) => String(n).padStart(2, "0");
  return `${seconds < 0 ? "-" : "+"}${p(h)}:${p(mi)}:${p(s)}${drop ? ";" : ":"}${p(f)}`;
}

/** Master time as mm:ss (h:mm:ss past an hour). */
export function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
  const p = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${p(m)}:${p(r)}` : `${m}:${p(r)}`;
}

export function bytes(n) {
  if (n == null) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0, v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 && i ? 1 : 0)} ${units[i]}`;
}

export function duration(seconds) {
  if (seconds == null) return "";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/** The verdict as a sentence. */
export function verdictWords(result, fpsKey = "25") {
  if (!result) return "";
  const off = result.offset_seconds;
  const frames = result.offset_frames?.[fpsKey];
  const f = frames != null ? ` (${Math.abs(frames).toFixed(1)} frames at ${fpsKey} fps)` : "";
  const lateEarly = off > 0 ? "late" : "early";
  const tl = result.timeline || {};
  switch (result.verdict) {
    case "in_sync":
      return "In sync: the dub lines up with the master (within 1 ms).";
    case "constant_offset":
      return `Out of sync: the dub is ${Math.abs(off * 1000).toFixed(1)} ms ${lateEarly}${f}, the same all through the programme.`;
    case "drift": {
      const d = tl.drift;
      const conv = d?.conversion ? `, a ${d.conversion} speed conversion` : "";
      const ppm = d?.ppm != null ? ` (${d.ppm.toFixed(0)} ppm${conv})` : "";
      return `Drifting: the dub runs at another speed${ppm}; it starts ${Math.abs(off * 1000).toFixed(1)} ms ${lateEarly} and the gap changes over the programme.`;
    }
    case "edited": {
      const n = (tl.edits || []).length;
      return `Edited: the offset jumps at ${n || "some"} point${n === 1 ? "" : "s"} (material removed, inserted or replaced); it starts ${Math.abs(off * 1000).toFixed(1)} ms ${lateEarly}.`;
    }
    case "no_reliable_match":
      return "No reliable match: these may not be the same programme, or the evidence is too weak to give an offset.";
    default:
      return result.verdict || "";
  }
}

export const STAGE_WORDS = {
  queued: "waiting in the queue", starting: "starting", probe: "reading the files", decode: "decoding audio",
  speed: "checking speed", methods: "running the methods", coarse: "coarse search", refine: "refining",
  timeline: "measuring along the programme", done: "done", analysis: "analysing", decision: "deciding",
  repair: "repairing", verification: "verifying the repair", package: "packaging",
};

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "style") node.style.cssText = v; // CSSOM: allowed by the CSP (no inline style attribute)
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null) node.append(c);
  return node;
}
