"""Deferrable Airflow sensors, triggers and operators for AWS query and calculation status APIs."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_SERVICES = {
    "internet_monitor": "Amazon CloudWatch Internet Monitor",
    "network_flow_monitor": "Amazon CloudWatch Network Flow Monitor",
    "neptune": "Amazon Neptune Data API",
    "athena": "Amazon Athena (Spark calculations)",
}


def _modules(kind: str) -> list[dict[str, Any]]:
    return [
        {"integration-name": name, "python-modules": [f"airflow_querystatus.{kind}.{service}"]}
        for service, name in _SERVICES.items()
    ]


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's ProvidersManager (entry point apache_airflow_provider)."""
    return {
        "package-name": "airflow-querystatus",
        "name": "AWS Query Status",
        "description": "Wait on AWS queries and calculations (Internet Monitor, Network Flow Monitor, "
        "Neptune openCypher, Athena Spark) without holding a worker slot.",
        "versions": [__version__],
        "integrations": [
            {"integration-name": name, "external-doc-url": "https://aws.amazon.com/", "tags": ["aws"]}
            for name in _SERVICES.values()
        ],
        "hooks": _modules("hooks"),
        "sensors": _modules("sensors"),
        "triggers": _modules("triggers"),
        "operators": _modules("operators"),
    }
