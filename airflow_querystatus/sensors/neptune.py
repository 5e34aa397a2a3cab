"""Sensors for Neptune openCypher and Gremlin queries and bulk loads."""

from __future__ import annotations

from typing import Any

from airflow_querystatus.sensors.base import QueryStatusSensor
from airflow_querystatus.status import NEPTUNE_GREMLIN_QUERY, NEPTUNE_LOADER_JOB, NEPTUNE_OPEN_CYPHER_QUERY

#: How every Neptune query sensor waits (the front doors' docstrings end with it).
_HOW_IT_WAITS = """
    Neptune lists only running and waiting queries and keeps no outcome: while the id is
    listed the sensor waits; ``cancelled: true`` fails the task; once an id the sensor saw
    running is no longer known, the query has finished and the task succeeds, with a log
    line saying Neptune does not report whether the query itself succeeded.

    :param query_id: The query's id, from the language's List...Queries call. (templated)
    :param endpoint_url: The Neptune instance endpoint that runs the query, e.g.
        ``https://my-db.xxxx.us-east-1.neptune.amazonaws.com:8182``; the connection's
        ``endpoint_url`` if not given. Use the instance, not a reader endpoint: status is
        kept per instance. (templated)
    :param fail_on_unknown_query_id: Fail if the id is unknown on the first poll. Default
        False: a fast query may finish before the first poll, so an unknown id is taken as
        finished, with a warning.
"""


class _NeptuneQuerySensor(QueryStatusSensor):
    """The sensor of one Neptune query language: a subclass names the language."""

    def __init__(
        self,
        *,
        query_id: str,
        endpoint_url: str | None = None,
        fail_on_unknown_query_id: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(query_id=query_id, endpoint_url=endpoint_url,
                         fail_on_unknown_query_id=fail_on_unknown_query_id, **kwargs)


class NeptuneOpenCypherQuerySensor(_NeptuneQuerySensor):
    __doc__ = "Wait for a Neptune openCypher query (ListOpenCypherQueries gives its id).\n" + _HOW_IT_WAITS

    spec = NEPTUNE_OPEN_CYPHER_QUERY


class NeptuneGremlinQuerySensor(_NeptuneQuerySensor):
    __doc__ = "Wait for a Neptune Gremlin query (ListGremlinQueries gives its id).\n" + _HOW_IT_WAITS

    spec = NEPTUNE_GREMLIN_QUERY


class NeptuneLoaderJobSensor(QueryStatusSensor):
    """Wait for a Neptune bulk load to reach LOAD_COMPLETED; the other final LOAD_* states fail
    (LOAD_COMMITTED_W_WRITE_CONFLICTS saying to resume the load).

    :param load_id: The load's id (StartLoaderJob's ``payload.loadId``). (templated)
    :param endpoint_url: The Neptune cluster endpoint (``https://<cluster endpoint>:8182``); the
        connection's ``endpoint_url`` if not given. (templated)
    """

    spec = NEPTUNE_LOADER_JOB

    def __init__(self, *, load_id: str, endpoint_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(load_id=load_id, endpoint_url=endpoint_url, **kwargs)
