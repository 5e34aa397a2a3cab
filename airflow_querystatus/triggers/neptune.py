"""Triggers for Neptune openCypher and Gremlin queries and bulk loads."""

from __future__ import annotations

from airflow_querystatus.status import NEPTUNE_GREMLIN_QUERY, NEPTUNE_LOADER_JOB, NEPTUNE_OPEN_CYPHER_QUERY
from airflow_querystatus.triggers.base import QueryStatusTrigger

#: How every Neptune query trigger waits (the front doors' docstrings end with it).
_HOW_IT_WAITS = """
    Neptune's status API only lists running and waiting queries: a listed query is running,
    one listed with ``cancelled: true`` is being cancelled (a failure), and an id that was
    seen running and is then unknown (400 InvalidParameterException) has finished. Neptune
    does not say whether it succeeded; only the client that ran it gets the outcome.

    :param query_id: The query's id (from the language's List...Queries call).
    :param endpoint_url: The Neptune instance endpoint running the query,
        e.g. ``https://my-db.xxxx.us-east-1.neptune.amazonaws.com:8182``; if not given, the
        connection's ``endpoint_url`` is used.
    :param fail_on_unknown_query_id: If the id is unknown on the first poll (never seen
        running), fail instead of assuming the query already finished. Default False: a
        fast query can finish before the first poll.
"""


class NeptuneOpenCypherQueryTrigger(QueryStatusTrigger):
    __doc__ = "Wait for a Neptune openCypher query (ListOpenCypherQueries gives its id).\n" + _HOW_IT_WAITS

    spec = NEPTUNE_OPEN_CYPHER_QUERY


class NeptuneGremlinQueryTrigger(QueryStatusTrigger):
    __doc__ = "Wait for a Neptune Gremlin query (ListGremlinQueries gives its id).\n" + _HOW_IT_WAITS

    spec = NEPTUNE_GREMLIN_QUERY


class NeptuneLoaderJobTrigger(QueryStatusTrigger):
    """Wait for a Neptune bulk load (GetLoaderJobStatus) to reach LOAD_COMPLETED; the other final
    LOAD_* states fail.

    :param load_id: The load's id (StartLoaderJob's ``payload.loadId``).
    :param endpoint_url: The Neptune cluster endpoint; the connection's ``endpoint_url`` if not given.
    """

    spec = NEPTUNE_LOADER_JOB
