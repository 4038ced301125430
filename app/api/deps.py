"""FastAPI dependencies as ``Annotated`` aliases (tests override ``get_settings`` only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.core.config import Settings
from app.services.analysis import AnalysisService
from app.services.batch import BatchService
from app.services.container import Services
from app.services.files import FileService
from app.services.health import HealthService
from app.services.repair import RepairService
from app.services.reports import ReportService
from app.services.ui_state import UiStateService
from app.services.workflows import WorkflowService

__all__ = ["get_services", "SettingsDep", "ServicesDep", "AnalysisServiceDep", "HealthServiceDep",
           "RepairServiceDep", "WorkflowServiceDep", "BatchServiceDep", "FileServiceDep",
           "ReportServiceDep", "UiStateServiceDep"]


def get_services(request: Request) -> Services:
    """The resources opened by this app's lifespan."""
    return request.app.state.services  # type: ignore[no-any-return]


def get_app_settings(request: Request) -> Settings:
    return get_services(request).settings


def get_analysis_service(request: Request) -> AnalysisService:
    return get_services(request).analyses


def get_health_service(request: Request) -> HealthService:
    return get_services(request).health


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
AnalysisServiceDep = Annotated[AnalysisService, Depends(get_analysis_service)]
HealthServiceDep = Annotated[HealthService, Depends(get_health_service)]


def get_workflow_service(request: Request) -> WorkflowService:
    return get_services(request).workflows


def get_repair_service(request: Request) -> RepairService:
    return get_services(request).repairs


WorkflowServiceDep = Annotated[WorkflowService, Depends(get_workflow_service)]


def get_batch_service(request: Request) -> BatchService:
    return get_services(request).batches


def get_file_service(request: Request) -> FileService:
    return get_services(request).files


def get_report_service(request: Request) -> ReportService:
    return get_services(request).reports


def get_ui_state_service(request: Request) -> UiStateService:
    return get_services(request).ui_state


BatchServiceDep = Annotated[BatchService, Depends(get_batch_service)]
FileServiceDep = Annotated[FileService, Depends(get_file_service)]
ReportServiceDep = Annotated[ReportService, Depends(get_report_service)]
UiStateServiceDep = Annotated[UiStateService, Depends(get_ui_state_service)]
RepairServiceDep = Annotated[RepairService, Depends(get_repair_service)]
