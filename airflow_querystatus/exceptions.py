"""Exceptions a task raises, chosen so that Airflow retries only what a retry can fix.

* ``QueryFailedError`` and ``QueryCallerError`` subclass ``AirflowFailException``: the
  remote state cannot change (FAILED stays FAILED) and a wrong id or missing permission
  will not fix itself, so retrying would only waste a worker slot. ``soft_fail`` skips.
* ``QueryExecutionFailedError`` is what an *operator* raises for the same states: it
  started the query, so an Airflow retry starts a fresh one and may well succeed.
* ``QueryStatusUnavailableError`` is a plain ``AirflowException``: AWS kept throttling or
  failing for longer than the budget allowed; a later retry may well succeed.
"""

from __future__ import annotations

from airflow_querystatus.compat import AirflowException, AirflowFailException


class QueryFailedError(AirflowFailException):
    """The query or calculation reached a failure state (FAILED, CANCELED, ...)."""


class QueryCallerError(AirflowFailException):
    """The status call was refused for a reason the caller must fix (ids, IAM, input)."""


class QueryStatusUnavailableError(AirflowException):
    """Throttling or transient AWS errors outlasted the error budget; retryable."""


class QueryExecutionFailedError(AirflowException):
    """A query an operator started ended FAILED or CANCELED; a retry starts a new one."""
