"""Hook for the Neptune Data API (openCypher and Gremlin query status, bulk load status)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper

from airflow_querystatus.hooks.base import QueryStatusHook
from airflow_querystatus.status import NEPTUNE_GREMLIN_QUERY, NEPTUNE_LOADER_JOB, NEPTUNE_OPEN_CYPHER_QUERY


class NeptuneDataHook(QueryStatusHook):
    """Interact with a Neptune DB instance's data API (boto3 client ``neptunedata``).

    The Neptune Data API has no usable regional endpoint: every call goes to a cluster or
    instance endpoint such as ``https://my-db.cluster-xxxx.us-east-1.neptune.amazonaws.com:8182``.
    Pass it as ``endpoint_url``, or set it in the connection (``endpoint_url``, or
    ``service_config: {"neptunedata": {"endpoint_url": ...}}``). Query status is kept per
    instance: poll the instance that runs the query, not a load-balanced reader endpoint.

    :param endpoint_url: The instance (or cluster) endpoint; overrides the connection's.
    """

    client_type_name = "neptunedata"

    def __init__(self, *args: Any, endpoint_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.endpoint_url = endpoint_url

    @cached_property
    def conn_config(self) -> AwsConnectionWrapper:
        wrapper = super().conn_config
        if self.endpoint_url:
            per_service = dict(wrapper.service_config.get(self.client_type_name, {}))
            per_service["endpoint_url"] = self.endpoint_url
            wrapper.service_config = {**wrapper.service_config, self.client_type_name: per_service}
        return wrapper

    def get_open_cypher_query_status(self, query_id: str) -> dict[str, Any]:
        """GetOpenCypherQueryStatus; raises InvalidParameterException once the query ended."""
        return self.get_status(NEPTUNE_OPEN_CYPHER_QUERY, {"query_id": query_id})

    def get_gremlin_query_status(self, query_id: str) -> dict[str, Any]:
        """GetGremlinQueryStatus; raises InvalidParameterException once the query ended."""
        return self.get_status(NEPTUNE_GREMLIN_QUERY, {"query_id": query_id})

    def get_loader_job_status(self, load_id: str) -> dict[str, Any]:
        return self.get_status(NEPTUNE_LOADER_JOB, {"load_id": load_id})
