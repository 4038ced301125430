"""What a workflow hands over: PNG plots, a human report (HTML or Markdown), the JSON report and
a ZIP package with a checksum manifest.

Plots use matplotlib's Agg backend (no display). Every file is written under a temporary name
and renamed into place.
"""

from __future__ import annotations

import html
import json
import os
import threading
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from app.engine.decode import decode  # noqa: E402
from app.engine.repair import sha256_file  # noqa: E402
from app.engine.timecode import frames_and_timecodes  # noqa: E402
from app.engine.timeline import Edit, Timeline  # noqa: E402
from app.engine.types import SyncResult  # noqa: E402
from app.engine.wording import qc_pairs  # noqa: E402
from app.services.plots import save_png, timeline_figure  # noqa: E402
from app.services.text_safety import md_text  # noqa: E402

__all__ = [
    "correlation_curve",
    "plot_correlation",
    "plot_timeline",
    "render_markdown",
    "render_html",
    "build_package",
]

_PLOT_LOCK = threading.Lock()  # pyplot's state is global: one figure at a time


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.stem}.partial-{os.getpid()}-{threading.get_ident()}"
                          f"{path.suffix}")


def _save(fig: Any, path: Path, title: str) -> None:
    """Title, lay out and write ``fig`` as a PNG under a temporary name, then rename it to
    ``path`` (a partial file is never offered); the figure is closed either way."""
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    tmp = _tmp(path)
    try:
        fig.savefig(tmp, dpi=110, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)


def correlation_curve(master: str | Path, dub: str | Path, *, centre_seconds: float,
                      half_width_seconds: float = 0.05, rate: int = 8000,
                      excerpt_seconds: float = 120.0) -> tuple[np.ndarray, np.ndarray]:
    """GCC-PHAT of the dub against the master for lags ``centre ± half_width`` seconds (> 0 =
    dub late), over an excerpt of at most ``excerpt_seconds`` from the middle of the overlap.
    Returns (lags in seconds, correlation normalised to a peak magnitude of 1)."""
    m = decode(master, sample_rate=rate)
    d = decode(dub, sample_rate=rate)
    lag0 = int(round(centre_seconds * rate))
    hw = int(round(half_width_seconds * rate))
    # master span whose matching dub span (shifted by lag0) lies inside the dub
    a = max(0, -lag0)
    b = min(m.size, d.size - lag0)
    if b - a < rate:
        return np.zeros(0), np.zeros(0)
    length = min(b - a, int(excerpt_seconds * rate))
    s = a + (b - a - length) // 2
    ms = m[s : s + length].astype(np.float64)
    lo = s + lag0 - hw
    ds = np.zeros(length + 2 * hw)
    src_a, src_b = max(lo, 0), min(lo + length + 2 * hw, d.size)
    ds[src_a - lo : src_b - lo] = d[src_a:src_b]
    n = 1 << int(np.ceil(np.log2(ds.size + length)))
    spec = np.conj(np.fft.rfft(ms, n)) * np.fft.rfft(ds, n)
    spec /= np.maximum(np.abs(spec), 1e-12)
    r = np.fft.irfft(spec, n)[: 2 * hw + 1]
    lags = (np.arange(2 * hw + 1) - hw + lag0) / rate
    peak = float(np.max(np.abs(r))) or 1.0
    return lags, r / peak


def plot_correlation(path: Path, curves: list[tuple[str, np.ndarray, np.ndarray]],
                     *, title: str) -> Path:
    """One panel per (label, lags s, values) curve, lags shown in milliseconds."""
    with _PLOT_LOCK:
        fig, axes = plt.subplots(len(curves), 1, figsize=(8, 2.6 * max(len(curves), 1)),
                                 squeeze=False)
        for ax, (label, lags, values) in zip(axes[:, 0], curves, strict=True):
            if lags.size:
                ax.plot(lags * 1000, values, lw=1.0, color="#1f4e79")
                k = int(np.argmax(np.abs(values)))
                ax.axvline(lags[k] * 1000, color="#c00000", lw=0.8, ls="--")
                ax.annotate(f"peak {lags[k] * 1000:+.3f} ms", (lags[k] * 1000, values[k]),
                            textcoords="offset points", xytext=(6, -12), fontsize=8)
            else:
                ax.text(0.5, 0.5, "no overlap to correlate", ha="center",
                        transform=ax.transAxes)
            if lags.size and lags[0] <= 0.0 <= lags[-1]:
                ax.axvline(0.0, color="#808080", lw=0.6)
            ax.set_title(label, fontsize=9)
            ax.ticklabel_format(useOffset=False, style="plain")  # lags as they are, in ms
            ax.set_xlabel("lag (ms, > 0 = dub late)", fontsize=8)
            ax.set_ylabel("GCC-PHAT", fontsize=8)
            ax.tick_params(labelsize=7)
        _save(fig, path, title)
    return path


def plot_timeline(path: Path, before: Mapping[str, Any], after: Mapping[str, Any] | None, *,
                  tolerance_seconds: float, title: str, fps: float | None = None) -> Path:
    """Offset over the programme (app.services.plots.timeline_figure): the analysis' windows,
    every fitted segment and edit (top), the repaired file's windows within ± one frame
    (bottom, when repaired); ``fps`` defaults to one frame = ``tolerance_seconds``."""
    fig = timeline_figure(before, fps=fps or round(1.0 / tolerance_seconds, 3), after=after)
    fig.suptitle(title, fontsize=10)
    return save_png(fig, path)


# --------------------------------------------------------------------------- human report


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:+.3f} ms"


def _rows(report: Mapping[str, Any], fps: float) -> tuple[list[tuple[str, str]], list[Edit]]:
    """The table's rows, and the edits of the report's analysis (a stored result, typed)."""
    a = report.get("analysis")
    r = SyncResult.from_dict(a) if a else None
    off = r.offset_seconds if r else None
    frames, codes = frames_and_timecodes(off) if off is not None else ({}, {})
    key = next((k for k in frames if abs(float(k) - fps) < 0.01), None)
    rows = [("Master", str(report.get("master_file"))), ("Dub", str(report.get("dub_file"))),
            ("Verdict", f"{r.verdict if r else None} — {r.reason if r else ''}"),
            ("Offset", f"{_ms(off)}" + (f" = {frames[key]:+.2f} frames = {codes[key]} at "
                                         f"{key} fps" if key else "")),
            ("Confidence", f"{r.confidence if r else 0:.2f}")]
    rows += [(f"QC {label.lower()}" if label != "Status" else "QC", text)
             for label, text in qc_pairs(report.get("qc"))]
    d = report.get("decision") or {}
    rows.append(("Decision", f"{d.get('action')} ({d.get('kind') or '—'}): "
                             f"{d.get('reason', '')}"))
    for w in d.get("warnings") or []:
        rows.append(("Finding", w))
    rep = report.get("repair") or {}
    for op in (rep.get("plan") or {}).get("operations", []):
        rows.append(("Repair", op))
    v = report.get("verification") or {}
    if v:
        rows.append(("Verification", f"{'PASSED' if v.get('passed') else 'FAILED'}: "
                                     f"{v.get('reason', '')}"))
    return rows, Timeline.from_dict(r.timeline).edits if r and r.timeline else []


def render_markdown(report: Mapping[str, Any], *, fps: float = 25.0) -> str:
    """The report for people, as Markdown (plots referenced as ``plots/<name>.png``). Every
    text goes through md_text: user text (episode name, paths, messages) is never markup."""
    title = report.get("episode_name") or Path(str(report.get("dub_file"))).name
    lines = [f"# Sync report: {md_text(title)}", "",
             f"Workflow {md_text(report.get('workflow_id'))}, "
             f"{md_text(report.get('generated_at'))}, engine "
             f"{md_text(report.get('engine_version'))}. Offsets > 0 mean the dub is late.",
             "", "| | |", "|---|---|"]
    rows, edits = _rows(report, fps)
    lines += [f"| {md_text(k)} | {md_text(v)} |" for k, v in rows]
    if edits:
        lines += ["", "## Edits", "", "| master time | kind | duration | uncertainty |",
                  "|---|---|---|---|"]
        lines += [f"| {e.master_time_seconds:.3f} s | {md_text(e.kind)} | "
                  f"{e.duration_seconds:.3f} s | ± {e.uncertainty_seconds:.3f} s |"
                  for e in edits]
    ch = report.get("channels")
    if ch:
        lines += ["", "## Channels", "", "| # | label | status | offset | confidence | "
                  "repair offset | residual |", "|---|---|---|---|---|---|---|"]
        resid = {c["index"]: c for c in ((report.get("verification") or {}).get("channels")
                                         or [])}
        for c in ch["channels"]:
            r = resid.get(c["index"], {})
            lines.append(f"| {c['index']} | {md_text(c['label'])} | {md_text(c['status'])} | "
                         f"{_ms(c['offset_seconds'])} | {c['confidence']:.2f} | "
                         f"{_ms(c['repair_offset_seconds'])}"
                         f"{' (inferred)' if c['inferred'] else ''} | "
                         f"{_ms(r.get('residual_offset_seconds'))} |")
    plots = report.get("plots") or []
    if plots:
        lines += ["", "## Plots", ""] + [f"![{md_text(p)}](plots/{quote(str(p))})"
                                         for p in plots]
    return "\n".join(lines) + "\n"


def render_html(report: Mapping[str, Any], *, fps: float = 25.0) -> str:
    """The report for people, as a self-contained HTML page (plots linked from plots/)."""
    esc = html.escape
    title = esc(str(report.get("episode_name") or Path(str(report.get("dub_file"))).name))
    pairs, edits = _rows(report, fps)
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs)
    v = report.get("verification") or {}
    badge = ("" if not v else f"<p class='{'ok' if v.get('passed') else 'bad'}'>"
             f"Verification {'passed' if v.get('passed') else 'failed'}</p>")
    edit_html = "" if not edits else "<h2>Edits</h2><table><tr><th>master time</th>" \
        "<th>kind</th><th>duration</th><th>uncertainty</th></tr>" + "".join(
            f"<tr><td>{e.master_time_seconds:.3f} s</td><td>{esc(e.kind)}</td>"
            f"<td>{e.duration_seconds:.3f} s</td><td>± {e.uncertainty_seconds:.3f} s"
            f"</td></tr>" for e in edits) + "</table>"
    ch = report.get("channels")
    ch_html = ""
    if ch:
        resid = {c["index"]: c for c in (v.get("channels") or [])}
        ch_html = "<h2>Channels</h2><table><tr><th>#</th><th>label</th><th>status</th>" \
                  "<th>offset</th><th>confidence</th><th>repair offset</th><th>residual</th>" \
                  "</tr>" + "".join(
                      f"<tr><td>{c['index']}</td><td>{esc(c['label'])}</td>"
                      f"<td>{esc(c['status'])}</td><td>{_ms(c['offset_seconds'])}</td>"
                      f"<td>{c['confidence']:.2f}</td>"
                      f"<td>{_ms(c['repair_offset_seconds'])}"
                      f"{' (inferred)' if c['inferred'] else ''}</td>"
                      f"<td>{_ms(resid.get(c['index'], {}).get('residual_offset_seconds'))}"
                      "</td></tr>" for c in ch["channels"]) + "</table>"
    plots = "".join(f"<figure><img src='plots/{esc(p)}' alt='{esc(p)}'></figure>"
                    for p in report.get("plots") or [])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sync report: {title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#222}}
table{{border-collapse:collapse;margin:1rem 0}}th,td{{border:1px solid #ccc;padding:.3rem .6rem;
text-align:left;vertical-align:top}}th{{background:#f3f3f3}}.ok{{color:#1b5e20;font-weight:bold}}
.bad{{color:#b71c1c;font-weight:bold}}img{{max-width:100%}}</style></head><body>
<h1>Sync report: {title}</h1>
<p>Workflow <code>{esc(str(report.get('workflow_id')))}</code>, {esc(str(report.get(
        'generated_at')))}, engine {esc(str(report.get('engine_version')))}.
Offsets &gt; 0 mean the dub is late.</p>{badge}
<table>{rows}</table>{edit_html}{ch_html}<h2>Plots</h2>{plots}
</body></html>
"""


# --------------------------------------------------------------------------- package


def build_package(zip_path: Path, files: Mapping[str, Path], *,
                  meta: Mapping[str, Any]) -> dict[str, Any]:
    """ZIP ``files`` (name in the archive → path) with ``manifest.json`` (each file's size and
    SHA-256, plus ``meta``) and ``SHA256SUMS`` (``sha256sum -c`` format). Returns the
    manifest."""
    entries = [{"name": name, "size_bytes": p.stat().st_size, "sha256": sha256_file(p)}
               for name, p in files.items()]
    manifest = {**meta, "created_at": datetime.now(UTC).isoformat(), "algorithm": "sha256",
                "files": entries}
    sums = "".join(f"{e['sha256']}  {e['name']}\n" for e in entries)
    tmp = _tmp(zip_path)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name, p in files.items():
                z.write(p, name)
            z.writestr("manifest.json", json.dumps(manifest, indent=2, default=str))
            z.writestr("SHA256SUMS", sums)
        os.replace(tmp, zip_path)
    finally:
        tmp.unlink(missing_ok=True)
    return manifest
