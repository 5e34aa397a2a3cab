"""Deferrable Airflow sensors, triggers and operators for AWS query and calculation status APIs."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def _modules(kind: str) -> list[dict[str, Any]]:
    from airflow_querystatus.status import SERVICES  # stdlib only: cheap for the entry point

    return [
        {"integration-name": service.integration, "python-modules": [f"airflow_querystatus.{kind}.{service.module}"]}
        for service in SERVICES.values()
    ]


def _doc_url(client: str) -> str:
    """The AWS API reference page of the service's first declared status operation."""
    from airflow_querystatus.status import SPECS

    return next(str(spec.doc_url) for spec in SPECS.values() if spec.service == client)


def _description() -> str:
    """What the provider waits on, from the registry: every operation's title, so that a new
    operation is named in ``airflow providers list`` without anyone remembering to."""
    from airflow_querystatus.status import SPECS

    return ("Wait on AWS queries and calculations without holding a worker slot: "
            f"{', '.join(spec.title for spec in SPECS.values())}.")


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's ProvidersManager (entry point apache_airflow_provider)."""
    from airflow_querystatus.status import SERVICES

    return {
        "package-name": "airflow-querystatus",
        "name": "AWS Query Status",
        "description": _description(),
        "versions": [__version__],
        "integrations": [
            {"integration-name": service.integration, "external-doc-url": _doc_url(service.client), "tags": ["aws"]}
            for service in SERVICES.values()
        ],
        "hooks": _modules("hooks"),
        "sensors": _modules("sensors"),
        "triggers": _modules("triggers"),
        "operators": _modules("operators"),
        "config": {
            "querystatus": {
                "description": "Settings of the airflow-querystatus provider's triggers.",
                "options": {
                    "prepared_status_calls": {
                        "description": "After a wait's first status poll, send each later poll as a prepared "
                        "request (signed per poll with botocore's SigV4 signer, sent and parsed by the same "
                        "client): about half the CPU of a plain client call. False makes every poll a plain "
                        "client call. A connection's `prepared_status_calls` extra can also turn it off.",
                        "version_added": __version__,
                        "type": "boolean",
                        "example": "False",
                        "default": "True",
                    },
                    "status_call_timeout": {
                        "description": "Seconds one status call may take as a whole, botocore's own retries "
                        "included, in triggers and on workers. A call near the wait's deadline gets only the time "
                        "left plus a 3 s grace. A call cut off counts as a transient error: the wait backs off and "
                        "polls again. Bounds endpoints that accept a call and never answer, or drip their answer.",
                        "version_added": __version__,
                        "type": "float",
                        "example": "10",
                        "default": "30",
                    },
                    "freeze_triggerer_heap": {
                        "description": "For a triggerer holding many start_from_trigger waits (one deserialized "
                        "DAG each): make its full garbage collections periodic instead of automatic. Every 10 "
                        "minutes only the objects made since the last freeze are collected and the rest frozen; "
                        "every hour the whole heap is thawed and collected once. Removes the seconds-long pauses "
                        "of the triggerer's event loop that full collections of a large heap cause; reference "
                        "cycles among frozen objects are freed up to an hour later. Set it in the triggerer's "
                        "environment only.",
                        "version_added": __version__,
                        "type": "boolean",
                        "example": "True",
                        "default": "False",
                    },
                    "max_answer_bytes": {
                        "description": "The largest status answer read, in bytes. Status answers are a few KiB; a "
                        "bigger one (a wrong endpoint, a proxy's page) is refused as soon as its size passes the cap, "
                        "without reading or parsing the rest, and the wait fails saying so.",
                        "version_added": __version__,
                        "type": "integer",
                        "example": "4194304",
                        "default": "1048576",
                    },
                    "rate_budget": {
                        "description": "adaptive: the status calls of every trigger in a process share one rate "
                        "budget per AWS account, region and operation, which adapts to the account's quota (grows "
                        "while AWS answers, cuts on a throttle), queues polls earliest-due first when waits want "
                        "more calls than it allows, absorbs throttles without spending each wait's transient-error "
                        "budget, and logs one line a minute while it throttles or queues. off: each wait backs off "
                        "on its own.",
                        "version_added": __version__,
                        "type": "string",
                        "example": "off",
                        "default": "adaptive",
                    },
                    "status_call_rates": {
                        "description": "Fixed rates, in calls per second, for accounts that know their quota: "
                        "comma-separated OPERATION=RATE pairs naming the AWS API (GetCalculationExecutionStatus=40, "
                        "GetQueryResults=5), or *=RATE for every other operation. Each rate is the budget of one "
                        "triggerer process: split an account's quota between the triggerers that share it. Unset: "
                        "adaptive.",
                        "version_added": __version__,
                        "type": "string",
                        "example": "GetCalculationExecutionStatus=40,*=10",
                        "default": "",
                    },
                    "status_lists": {
                        "description": "auto: where AWS has a list call that gives the status of many queries "
                        "(Logs Insights' DescribeQueries, Neptune's ListOpenCypherQueries and ListGremlinQueries), "
                        "the triggers of one connection that wait on such queries share one list call a second, "
                        "from 10 such triggers on: one call answers all their polls, and a wait makes its own "
                        "status call only for what the list does not show. always: from one trigger on. off: "
                        "each wait polls its own status call.",
                        "version_added": __version__,
                        "type": "string",
                        "example": "off",
                        "default": "auto",
                    },
                    "max_poll_interval_override": {
                        "description": "For tests: when set, every wait of this provider (sensor, trigger and "
                        "operator) polls at least this often, whatever its poll_interval and max_poll_interval say, "
                        "so that DAGs keep their production intervals and their tests still run fast (the pytest "
                        "plugin's querystatus_fast_polls ini option sets it to 0.1). Leave it unset in production.",
                        "version_added": __version__,
                        "type": "float",
                        "example": "0.1",
                        "default": "",
                    },
                },
            },
        },
    }
