"""One ``AwsBaseHook`` subclass per AWS service."""

from __future__ import annotations

from importlib import import_module

from airflow_querystatus.hooks.athena import AthenaCalculationHook
from airflow_querystatus.hooks.base import QueryStatusHook
from airflow_querystatus.hooks.internet_monitor import InternetMonitorHook
from airflow_querystatus.hooks.neptune import NeptuneDataHook
from airflow_querystatus.hooks.network_flow_monitor import NetworkFlowMonitorHook
from airflow_querystatus.status import SERVICES


def hook_class_for(service: str) -> type[QueryStatusHook]:
    """The hook class for a boto3 client name, as the registry (``status.SERVICES``) declares it."""
    declared = SERVICES[service]
    hook: type[QueryStatusHook] = getattr(import_module(f"airflow_querystatus.hooks.{declared.module}"), declared.hook)
    return hook


__all__ = [
    "AthenaCalculationHook",
    "InternetMonitorHook",
    "NeptuneDataHook",
    "NetworkFlowMonitorHook",
    "QueryStatusHook",
    "hook_class_for",
]
