// The offset over the programme as inline SVG: window offsets (points), the fitted model
// (the drift line, or constant/piecewise segments) and the edit points. No chart library.
import { clock } from "./format.js";

const NS = "http://www.w3.org/2000/svg";
const svgEl = (tag, attrs = {}, text) => {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  if (text != null) n.textContent = text;
  return n;
};

function niceStep(span, target) {
  const raw = span / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

/** Local offset (s) of the fitted model at master time t, else null. */
export function modelOffsetAt(timeline, t) {
  const segs = timeline?.segments || [];
  for (const s of segs) {
    if (t >= s.master_start_seconds && t <= s.master_end_seconds) {
      const span = s.master_end_seconds - s.master_start_seconds || 1;
      return s.offset_start_seconds + (s.offset_end_seconds - s.offset_start_seconds) * (t - s.master_start_seconds) / span;
    }
  }
  return null;
}

/**
 * Draw `timeline` (TimelineRead) into `box`. `duration` (s) sets the x axis when the windows
 * do not reach the end. `onPick(t)` is called with the master time clicked.
 */
export function drawTimeline(box, timeline, { duration = 0, onPick, cursor = null } = {}) {
  box.replaceChildren();
  const W = Math.max(320, box.clientWidth || 640), H = Math.max(160, box.clientHeight || 220);
  const m = { l: 62, r: 14, t: 14, b: 28 };
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Offset over the programme" });
  box.append(svg);
  const windows = timeline?.windows || [];
  const segs = timeline?.segments || [];
  const edits = timeline?.edits || [];
  const tMax = Math.max(duration, ...windows.map((w) => w.end_seconds), ...segs.map((s) => s.master_end_seconds), 1);
  const vals = [];
  for (const w of windows) if (w.offset_seconds != null && w.status !== "outlier") vals.push(w.offset_seconds * 1000);
  for (const s of segs) vals.push(s.offset_start_seconds * 1000, s.offset_end_seconds * 1000);
  if (!vals.length && timeline?.offset_at_start_seconds != null) vals.push(timeline.offset_at_start_seconds * 1000);
  if (!vals.length) {
    svg.append(svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "No window of the programme gave a confident offset."));
    return svg;
  }
  let lo = Math.min(...vals), hi = Math.max(...vals);
  const span = Math.max(hi - lo, 10);
  const mid = (hi + lo) / 2;
  lo = mid - span * 0.65; hi = mid + span * 0.65;
  const x = (t) => m.l + (W - m.l - m.r) * (t / tMax);
  const y = (v) => m.t + (H - m.t - m.b) * (1 - (v - lo) / (hi - lo));

  // grid and axes
  const yStep = niceStep(hi - lo, 5);
  for (let v = Math.ceil(lo / yStep) * yStep; v <= hi; v += yStep) {
    svg.append(svgEl("line", { class: "grid", x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }));
    svg.append(svgEl("text", { x: m.l - 6, y: y(v) + 3, "text-anchor": "end" }, `${+v.toFixed(3)} ms`));
  }
  const xStep = niceStep(tMax, 8);
  for (let t = 0; t <= tMax + 1e-9; t += xStep) {
    svg.append(svgEl("line", { class: "grid", x1: x(t), x2: x(t), y1: m.t, y2: H - m.b }));
    svg.append(svgEl("text", { x: x(t), y: H - m.b + 14, "text-anchor": "middle" }, clock(t)));
  }
  svg.append(svgEl("line", { class: "axis", x1: m.l, x2: m.l, y1: m.t, y2: H - m.b }));
  svg.append(svgEl("line", { class: "axis", x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b }));
  svg.append(svgEl("text", { x: W - m.r, y: H - 2, "text-anchor": "end" }, "master time"));

  // edits: vertical dashed lines with what happened there
  for (const e of edits) {
    const ex = x(e.master_time_seconds);
    svg.append(svgEl("line", { class: "edit", x1: ex, x2: ex, y1: m.t, y2: H - m.b }));
    const label = `${e.kind} ${e.duration_seconds.toFixed(2)} s @ ${e.master_timecode}`;
    svg.append(svgEl("text", { class: "edit-label", x: ex + 4, y: m.t + 10 }, label));
  }
  // fitted model: one line per segment (a sloped line is the drift)
  for (const s of segs) {
    svg.append(svgEl("line", { class: "model", x1: x(s.master_start_seconds), y1: y(s.offset_start_seconds * 1000),
                               x2: x(s.master_end_seconds), y2: y(s.offset_end_seconds * 1000) }));
  }
  // windows
  for (const w of windows) {
    if (w.offset_seconds == null) continue;
    const v = Math.max(lo, Math.min(hi, w.offset_seconds * 1000));
    const cls = w.status === "ok" ? "pt-ok" : w.status === "outlier" ? "pt-outlier" : "pt-weak";
    const c = svgEl("circle", { class: cls, cx: x((w.start_seconds + w.end_seconds) / 2), cy: y(v), r: 3.5 });
    c.append(svgEl("title", {}, `${w.start_timecode}–${w.end_timecode}: ${w.offset_ms?.toFixed(2)} ms (${w.status}, confidence ${(w.confidence * 100).toFixed(0)} %)`));
    svg.append(c);
  }
  // legend
  const lg = svgEl("g", { transform: `translate(${W - m.r - 250}, ${H - m.b - 10})` });
  lg.append(svgEl("circle", { class: "pt-ok", cx: 0, cy: 0, r: 3.5 }), svgEl("text", { x: 6, y: 3 }, "window"));
  lg.append(svgEl("line", { class: "model", x1: 55, x2: 75, y1: 0, y2: 0 }), svgEl("text", { x: 79, y: 3 }, timeline.drift ? "drift line" : "model"));
  lg.append(svgEl("line", { class: "edit", x1: 145, x2: 145, y1: -6, y2: 6 }), svgEl("text", { x: 150, y: 3 }, "edit point"));
  svg.append(lg);

  const cur = svgEl("line", { class: "cursor", x1: 0, x2: 0, y1: m.t, y2: H - m.b, visibility: "hidden" });
  svg.append(cur);
  const setCursor = (t) => { cur.setAttribute("x1", x(t)); cur.setAttribute("x2", x(t)); cur.setAttribute("visibility", "visible"); };
  if (cursor != null) setCursor(cursor);
  svg.addEventListener("click", (ev) => {
    const r = svg.getBoundingClientRect();
    const px = (ev.clientX - r.left) * (W / r.width);
    const t = Math.max(0, Math.min(tMax, (px - m.l) / (W - m.l - m.r) * tMax));
    setCursor(t);
    onPick?.(t);
  });
  return svg;
}
