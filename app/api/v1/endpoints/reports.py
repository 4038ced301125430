"""``/api/v1/reports``: the report of a finished analysis (JSON, or text/Markdown/HTML for a
person), reports found by file pair, and the list. Sign convention: ``offset_seconds > 0``
means the dub is late."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from app.api.deps import ReportServiceDep
from app.api.v1.downloads import content_disposition
from app.api.v1.links import report_links, report_summary_links
from app.api.v1.schemas.common import MAX_OFFSET
from app.api.v1.schemas.common import error_responses as _errors
from app.api.v1.schemas.reports import ReportList, ReportRead, ReportSummary
from app.db.models import JobStatus
from app.services.reports import has_conform

__all__ = ["router"]

router = APIRouter(prefix="/reports", tags=["reports"])

AnalysisId = Annotated[str, Path(description="analysis_YYYYMMDD_HHMMSS_<8 hex>",
                                 examples=["analysis_20250101_120000_1a2b3c4d"],
                                 max_length=64)]
Fps = Annotated[Literal["23.976", "24", "25", "29.97", "30"] | None, Query(
    description="Frame rate of the headline frames/timecode (default: the master's video "
                "frame rate when standard, else 25).")]
Statuses = Annotated[list[JobStatus] | None, Query(
    alias="status", description="Only these final statuses (repeatable; default: all "
                                "finished).")]
_MEDIA = {"text": "text/plain; charset=utf-8", "markdown": "text/markdown; charset=utf-8",
          "html": "text/html; charset=utf-8"}
_EXT = {"text": "txt", "markdown": "md", "html": "html"}


def _linked(report: dict[str, Any]) -> dict[str, Any]:
    """A report with its links (the conform exports' when it has them)."""
    return {**report, "links": report_links(report["analysis"]["analysis_id"],
                                            conform=has_conform(report))}


def _page(service: ReportServiceDep, *, master: str | None, dub: str | None,
          statuses: list[JobStatus] | None, batch_id: str | None, limit: int,
          offset: int) -> ReportList:
    items, total = service.search(master=master, dub=dub,
                                  statuses=[str(s) for s in statuses or []], batch_id=batch_id,
                                  limit=limit, offset=offset)
    return ReportList(items=[ReportSummary(**i, links=report_summary_links(i["analysis_id"]))
                             for i in items], total=total,
                      limit=limit, offset=offset)


@router.get(
    "", response_model=ReportList, summary="List reports",
    description="Reports of finished analyses, newest first, paginated.",
    responses=_errors(422),
    openapi_extra={"x-curl-example": "curl -s '{base}/api/v1/reports?limit=20'"},
)
def list_reports(
    service: ReportServiceDep, status_: Statuses = None,
    batch_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ReportList:
    return _page(service, master=None, dub=None, statuses=status_, batch_id=batch_id,
                 limit=limit, offset=offset)


router.add_api_route("/", list_reports, methods=["GET"], response_model=ReportList,
                     include_in_schema=False)


@router.get(
    "/search", response_model=ReportList, summary="Reports for a file pair",
    description="Reports whose master path contains master_file and whose dub path contains "
                "dub_file (case-insensitive; a name, a relative or an absolute path; either "
                "side may be left out), newest first.",
    responses=_errors(422),
    openapi_extra={"x-curl-example": "curl -s '{base}/api/v1/reports/search?master_file="
                                     "ep101_master.wav&dub_file=ep101_de'"},
)
def search_reports(
    service: ReportServiceDep,
    master_file: Annotated[str | None, Query(max_length=4096, description="Part of the "
                                                                          "master's path.")]
    = None,
    dub_file: Annotated[str | None, Query(max_length=4096, description="Part of the dub's "
                                                                       "path.")] = None,
    status_: Statuses = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ReportList:
    return _page(service, master=master_file, dub=dub_file, statuses=status_, batch_id=None,
                 limit=limit, offset=offset)


@router.get(
    "/{analysis_id}", response_model=ReportRead, summary="Full report (JSON)",
    description="Inputs with a fresh probe, the options as run, each method's result, the "
                "consensus, the timeline summary (drift, edits with timecodes), the verdict, a "
                "plain-language recommendation, timings and versions. 409 while the analysis "
                "is queued or running.",
    responses=_errors(404, 409, 422),
    openapi_extra={"x-curl-example": "curl -s {base}/api/v1/reports/$ID"},
)
def get_report(analysis_id: AnalysisId, service: ReportServiceDep, fps: Fps = None
               ) -> ReportRead:
    return ReportRead.model_validate(_linked(service.report(analysis_id, fps=fps)))


@router.get(
    "/{analysis_id}/formatted", summary="Report for a person (text, Markdown, HTML)",
    description="The verdict and recommendation first, then the offset in ms, samples, frames "
                "and timecode at every frame rate, confidence, the timeline, each method, the "
                "files and versions. download=true sends it as an attachment.",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}, "text/markdown": {}, "text/html": {}}},
               **_errors(404, 409, 422)},
    openapi_extra={"x-curl-example":
                   "curl -s '{base}/api/v1/reports/$ID/formatted?format=text'"},
)
def formatted_report(
    analysis_id: AnalysisId, service: ReportServiceDep,
    format: Annotated[Literal["text", "markdown", "html"], Query(
        description="text, markdown or html.")] = "html",
    fps: Fps = None,
    download: Annotated[bool, Query(description="As an attachment.")] = False,
) -> Response:
    body = service.formatted(_linked(service.report(analysis_id, fps=fps)), fmt=format, fps=fps)
    disposition = "attachment" if download else "inline"
    return Response(body, media_type=_MEDIA[format], headers={
        "Content-Disposition": content_disposition(f"{analysis_id}.{_EXT[format]}",
                                                   disposition)})


@router.get(
    "/{analysis_id}/plots/{name}", summary="A plot of the analysis (PNG)",
    description="timeline: the offset over the programme, every window, fitted segment and "
                "edit, the QC tolerance (ms on the left, frames on the right, master timecode "
                "below, never offset notation, at least ± one frame of span); windows: the "
                "offset measured in each window (drift and edits only); envelope: master vs "
                "dub loudness around the largest error and each edit (while both files are "
                "there). 404 plot_not_available when the plot does not apply; 409 while the "
                "analysis is queued or running.",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **_errors(404, 409, 422)},
    openapi_extra={"x-curl-example":
                   "curl -s {base}/api/v1/reports/$ID/plots/timeline -o timeline.png"},
)
def report_plot(
    analysis_id: AnalysisId, service: ReportServiceDep,
    name: Annotated[Literal["timeline", "windows", "envelope"], Path(
        description="timeline, windows or envelope.")],
    fps: Fps = None,
) -> Response:
    png = service.plot(analysis_id, name, fps=fps)
    return Response(png, media_type="image/png", headers={
        "Content-Disposition": content_disposition(f"{analysis_id}_{name}.png", "inline"),
        "Cache-Control": "private, max-age=3600"})
