"""One ``AwsBaseHook`` subclass per AWS service."""

from __future__ import annotations

from airflow_querystatus.hooks.athena import AthenaCalculationHook
from airflow_querystatus.hooks.base import QueryStatusHook
from airflow_querystatus.hooks.internet_monitor import InternetMonitorHook
from airflow_querystatus.hooks.neptune import NeptuneDataHook
from airflow_querystatus.hooks.network_flow_monitor import NetworkFlowMonitorHook

HOOKS_BY_SERVICE: dict[str, type[QueryStatusHook]] = {
    hook.client_type_name: hook
    for hook in (InternetMonitorHook, NetworkFlowMonitorHook, NeptuneDataHook, AthenaCalculationHook)
}


def hook_class_for(service: str) -> type[QueryStatusHook]:
    """The hook class for a boto3 client name."""
    return HOOKS_BY_SERVICE[service]


__all__ = [
    "AthenaCalculationHook",
    "InternetMonitorHook",
    "NeptuneDataHook",
    "NetworkFlowMonitorHook",
    "QueryStatusHook",
    "hook_class_for",
]
