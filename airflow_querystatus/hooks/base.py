"""The hook base class: an ``AwsBaseHook`` that can make the status call of a StatusSpec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from airflow_querystatus import bounds
from airflow_querystatus.arguments import botocore_config
from airflow_querystatus.compat import CONNECTION_NOT_FOUND, connection_read_error
from airflow_querystatus.exceptions import AwsConnectionNotFoundError, AwsConnectionUnreadableError
from airflow_querystatus.status import StatusSpec, status_methods


class QueryStatusHook(AwsBaseHook):
    """Interact with one AWS service's query-status API through boto3.

    Subclasses fix ``client_type``; every other argument is ``AwsBaseHook``'s
    (``aws_conn_id``, ``region_name``, ``verify``, ``config``). The connection's
    ``endpoint_url`` (or a per-service ``service_config``) is honoured as usual. ``config`` may
    be the JSON-safe dict a trigger carries (see :mod:`airflow_querystatus.arguments`).

    A connection id that does not exist fails naming it (:class:`AwsConnectionNotFoundError`),
    where ``AwsBaseHook`` would carry on with an empty connection and fail later for want of a
    region or credentials; one that a secrets backend failed to read (which Airflow also
    reports as undefined) fails quoting that backend's error (:class:`AwsConnectionUnreadableError`).
    ``aws_conn_id=None`` still means boto3's default credential chain.
    """

    client_type_name: ClassVar[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = self.client_type_name
        kwargs["config"] = botocore_config(kwargs.get("config"), owner=type(self).__name__, name="config")
        super().__init__(*args, **kwargs)

    @classmethod
    def get_connection(cls, conn_id: str) -> Any:
        """The connection, looked up as ``AwsBaseHook`` does (once per hook: it caches the
        result), but a missing one is an error naming it rather than an empty connection, and an
        unreadable one an error quoting why."""
        try:
            return super().get_connection(conn_id)
        except CONNECTION_NOT_FOUND as err:
            unreadable = connection_read_error(conn_id)
            if unreadable is not None:
                backend, error = unreadable
                raise AwsConnectionUnreadableError(conn_id, backend, f"{type(error).__name__}: {error}") from error
            raise AwsConnectionNotFoundError(conn_id) from err

    def get_status(
        self, spec: StatusSpec, identifiers: Mapping[str, str], *, remaining: float | None = None
    ) -> dict[str, Any]:
        """Make ``spec``'s status call synchronously and return the raw answer.

        The call is bounded as a whole (:mod:`airflow_querystatus.bounds`): by
        ``[querystatus] status_call_timeout``, or by ``remaining`` (the seconds left before the
        wait's deadline) plus a grace if that is sooner; its answer by ``max_answer_bytes``.
        """
        if spec.service != self.client_type_name:
            raise ValueError(f"{type(self).__name__} cannot call {spec.service}.{spec.operation}")
        client = self.conn  # the connection is looked up here, in the task's own thread
        bounds.limit_answers(client, status_methods(spec.service), bounds.configured_max_answer_bytes(),
                             asynchronous=False)
        method = getattr(client, spec.operation)
        params = spec.status_params(identifiers)
        limit = bounds.call_limit(bounds.configured_call_timeout(), remaining)
        response: dict[str, Any] = bounds.call_with_limit(lambda: method(**params), limit, spec.operation)
        return response

    def reset_client(self) -> None:
        """Drop the cached client and connection so the next call builds new credentials."""
        for cached in ("conn", "conn_config", "_client"):
            self.__dict__.pop(cached, None)
