"""The URLs the API hands out (``links`` of the views): built here, at the edge, from ids the
services return, so that no service knows the API's prefix or routes."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from app.core.config import API_PREFIX

__all__ = ["report_url", "upload_links", "batch_links", "with_batch_links", "report_links",
           "report_summary_links"]

_CONFORM_FORMATS = ("otio", "edl", "fcpxml")


def report_url(analysis_id: str) -> str:
    return f"{API_PREFIX}/reports/{analysis_id}"


def upload_links(file_id: str, path: str) -> dict[str, str]:
    """An uploaded file: its record, its bytes, a playable proxy and its probe."""
    base, quoted = f"{API_PREFIX}/files", quote(path, safe="/")
    return {"self": f"{base}/{file_id}", "raw": f"{base}/raw?path={quoted}",
            "proxy": f"{base}/proxy-audio?path={quoted}&format=mp3",
            "probe": f"{base}/probe?path={quoted}"}


def batch_links(batch_id: str) -> dict[str, str]:
    base = f"{API_PREFIX}/analysis/batch/{batch_id}"
    return {"status": f"{base}/status", "results": f"{base}/results",
            "results_csv": f"{base}/results?format=csv", "start": f"{base}/start",
            "cancel": base}


def with_batch_links(view: dict[str, Any]) -> dict[str, Any]:
    """A batch view (``BatchService``) with its links, and each started item's report link
    after its analysis links."""
    view["links"] = batch_links(view["batch_id"])
    for item in view.get("items", ()):
        if item["links"] is not None:
            item["links"]["report"] = report_url(item["analysis_id"])
    return view


def report_summary_links(analysis_id: str) -> dict[str, str]:
    base = report_url(analysis_id)
    return {"report": base, "formatted": f"{base}/formatted?format=html",
            "analysis": f"{API_PREFIX}/analysis/{analysis_id}"}


def report_links(analysis_id: str, *, conform: bool) -> dict[str, str]:
    """A full report: its analysis, itself, its HTML form and, when ``conform`` (a completed
    analysis with a match), the conform exports (OTIO, CMX 3600 EDL, FCP XML)."""
    base = report_url(analysis_id)
    links = {"analysis": f"{API_PREFIX}/analysis/{analysis_id}", "report": base,
             "formatted": f"{base}/formatted?format=html"}
    if conform:
        conform_base = f"{API_PREFIX}/analysis/sync/{analysis_id}/conform?format="
        links.update({f"conform_{fmt}": conform_base + fmt for fmt in _CONFORM_FORMATS})
    return links
