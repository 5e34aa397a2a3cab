"""Exceptions a task raises, chosen so that Airflow retries only what a retry can fix.

* ``QueryFailedError`` and ``QueryCallerError`` subclass ``AirflowFailException``: the
  remote state cannot change (FAILED stays FAILED) and a wrong id or missing permission
  will not fix itself, so retrying would only waste a worker slot. ``soft_fail`` skips.
  ``AwsConnectionNotFoundError`` is the caller error of an ``aws_conn_id`` that does not exist,
  ``AwsConnectionUnreadableError`` that of one a secrets backend failed to read (Airflow's own
  error quoted: a Fernet key, a cryptography version or a connection value to fix).
* ``QueryExecutionFailedError`` is what an *operator* raises for the same states: it
  started the query, so an Airflow retry starts a fresh one and may well succeed.
* ``QueryStatusUnavailableError`` is a plain ``AirflowException``: AWS kept throttling or
  failing for longer than the budget allowed; a later retry may well succeed.
  ``QueryStartUncertainError`` is one too: a start call met a 5xx or a timeout after the request
  may have reached AWS, and the operation has no idempotency token, so the provider does not
  repeat it (a second query could run beside the first).
* ``QueryArgumentError`` (a ``QueryCallerError`` and a ``ValueError``): a task argument, as
  rendered, is one AWS would refuse; checked before any AWS call.
* ``QueryWaitTimeoutError``: an operator's wait passed its ``wait_timeout``; retryable, since a
  retry starts a new query.
* Every error an operator raises is a ``QueryError``, so ``on_failure_callback`` can read its
  fields whichever call failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_querystatus.compat import INSTALL_CONSTRAINTS, AirflowException, AirflowFailException
from airflow_querystatus.errors import CallerMistake


class QueryError(Exception):
    """What every wait's error carries besides its message, for ``on_failure_callback`` and
    alerting code to read instead of parsing text: the status ``operation`` (boto3 name), the
    query's ``identifiers``, the last ``state`` seen and the ``last_answer`` (JSON-safe; None
    when no answer came)."""

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        identifiers: Mapping[str, str] | None = None,
        state: str | None = None,
        last_answer: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.identifiers = dict(identifiers or {})
        self.state = state
        self.last_answer = dict(last_answer) if last_answer is not None else None

    def __reduce__(self) -> Any:  # pickled across processes: keep the fields
        details = {"operation": self.operation, "identifiers": self.identifiers, "state": self.state,
                   "last_answer": self.last_answer}
        return _rebuild, (type(self), str(self), details)


def _rebuild(cls: type[QueryError], message: str, details: dict[str, Any]) -> QueryError:
    return cls(message, **details)


class QueryFailedError(QueryError, AirflowFailException):
    """The query or calculation reached a failure state (FAILED, CANCELED, ...)."""


class QueryCallerError(QueryError, CallerMistake, AirflowFailException):
    """The status call was refused for a reason the caller must fix (ids, IAM, input)."""


class AwsConnectionNotFoundError(QueryCallerError):
    """The Airflow connection named by ``aws_conn_id`` does not exist."""

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id
        super().__init__(
            f"The Airflow connection {conn_id!r} (`aws_conn_id`) does not exist. Create it (Admin > "
            f"Connections, `airflow connections add`, an AIRFLOW_CONN_{conn_id.upper()} environment variable "
            "or your secrets backend) where the tasks and triggers run, or pass `aws_conn_id=None` to use "
            "boto3's default credential chain (environment, profile, instance or pod role)."
        )

    def __reduce__(self) -> Any:  # pickled across processes: rebuilt from the id
        return type(self), (self.conn_id,)


class AwsConnectionUnreadableError(QueryCallerError):
    """The Airflow connection named by ``aws_conn_id`` exists, but a secrets backend raised when
    reading it (Airflow's own look-up then calls it undefined)."""

    def __init__(self, conn_id: str, backend: str, error: str) -> None:
        self.conn_id, self.backend, self.error = conn_id, backend, error
        super().__init__(
            f"The Airflow connection {conn_id!r} (`aws_conn_id`) exists but could not be read: Airflow's "
            f"secrets backend {backend} raised {error} (so Airflow reports it as not defined). Check that "
            "[core] fernet_key is the key the connection was stored with, that your cryptography version is "
            f"one this Airflow works with (install the package with -c {INSTALL_CONSTRAINTS}: Airflow <= 3.1 "
            "breaks with cryptography >= 51), and that the connection's value (an AIRFLOW_CONN_* variable's "
            "JSON or URI, your secrets backend's entry) parses."
        )

    def __reduce__(self) -> Any:  # pickled across processes: rebuilt from its parts
        return type(self), (self.conn_id, self.backend, self.error)


class QueryStatusUnavailableError(QueryError, AirflowException):
    """Throttling or transient AWS errors outlasted the error budget; retryable."""


class QueryExecutionFailedError(QueryError, AirflowException):
    """A query an operator started ended FAILED or CANCELED; a retry starts a new one."""


class QueryStartUncertainError(QueryStatusUnavailableError):
    """A start call failed in a way that leaves open whether AWS started the query (a 5xx, a
    read timeout) and the operation has no idempotency token: not repeated by the provider."""


class QueryArgumentError(QueryCallerError, ValueError):
    """A task argument, as rendered, that AWS would refuse: fix the DAG (or what it templates)."""


class QueryEventError(QueryError, AirflowException):
    """A trigger's event the operator cannot finish from (a bug or a version mix); retryable."""


class QueryWaitTimeoutError(QueryError, AirflowException):
    """An operator's query did not finish within ``wait_timeout``; a retry starts a new one."""
