"""The URLs the API hands out (``links`` of the views): built here, at the edge, from ids the
services return, so that no service knows the API's prefix or routes."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from app.core.config import API_PREFIX

__all__ = ["report_url", "upload_links", "batch_links", "with_batch_links", "report_links",
           "report_summary_links", "analysis_links", "with_analysis_links", "workflow_links",
           "with_workflow_links", "with_repair_links"]

_CONFORM_FORMATS = ("otio", "edl", "fcpxml")


def report_url(analysis_id: str) -> str:
    return f"{API_PREFIX}/reports/{analysis_id}"


def upload_links(file_id: str, path: str) -> dict[str, str]:
    """An uploaded file: its record, its bytes, a playable proxy and its probe."""
    base, quoted = f"{API_PREFIX}/files", quote(path, safe="/")
    return {"self": f"{base}/{file_id}", "raw": f"{base}/raw?path={quoted}",
            "proxy": f"{base}/proxy-audio?path={quoted}&format=mp3",
            "probe": f"{base}/probe?path={quoted}"}


def analysis_links(analysis_id: str) -> dict[str, str]:
    base = f"{API_PREFIX}/analysis/{analysis_id}"
    return {"self": base, "stream": f"{base}/progress/stream", "cancel": base,
            "conform": f"{API_PREFIX}/analysis/sync/{analysis_id}/conform?format=edl"}


def with_analysis_links(view: dict[str, Any]) -> dict[str, Any]:
    """An analysis view (``view_of``, or an SSE state message) with its links."""
    view["links"] = analysis_links(view["analysis_id"])
    return view


def workflow_links(workflow_id: str, analysis_id: str | None = None) -> dict[str, str]:
    """The workflow's URLs, and its analysis's (record, timeline, report) once it has one."""
    base = f"{API_PREFIX}/workflows/{workflow_id}"
    links = {"status": f"{base}/status", "stream": f"{base}/status/stream",
             "download": f"{base}/download/", "delete": base}
    if analysis_id:
        links.update(analysis=f"{API_PREFIX}/analysis/{analysis_id}",
                     timeline=f"{API_PREFIX}/analysis/sync/{analysis_id}/timeline",
                     report=report_url(analysis_id),
                     conform=f"{API_PREFIX}/analysis/sync/{analysis_id}/conform?format=edl")
    return links


def with_workflow_links(view: dict[str, Any]) -> dict[str, Any]:
    """A workflow view (``WorkflowService.view``, or an SSE message carrying one) with its
    links and the download URL of each of its file types."""
    base = f"{API_PREFIX}/workflows/{view['workflow_id']}/download"
    view["files"] = {k: f"{base}/{k}" for k in view["files"]}
    view["links"] = workflow_links(view["workflow_id"], view.get("analysis_id"))
    return view


def with_repair_links(record: dict[str, Any]) -> dict[str, Any]:
    """A repair's record with its link and the download URL of each output."""
    base = f"{API_PREFIX}/repair/{record['repair_id']}"
    record["outputs"] = [{**o, "download": f"{base}/download/{o['name']}"}
                         for o in record["outputs"]]
    record["links"] = {"self": base}
    return record


def batch_links(batch_id: str) -> dict[str, str]:
    base = f"{API_PREFIX}/analysis/batch/{batch_id}"
    return {"status": f"{base}/status", "results": f"{base}/results",
            "results_csv": f"{base}/results?format=csv", "start": f"{base}/start",
            "cancel": base}


def with_batch_links(view: dict[str, Any]) -> dict[str, Any]:
    """A batch view (``BatchService``) with its links, and each started item's analysis
    links followed by its report link."""
    view["links"] = batch_links(view["batch_id"])
    for item in view.get("items", ()):
        if item.get("analysis_id") is not None:  # started: its analysis's links
            item["links"] = {**analysis_links(item["analysis_id"]),
                             "report": report_url(item["analysis_id"])}
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
