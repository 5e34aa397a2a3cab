"""Operator: run an Athena Spark calculation in a session, wait, return its result URIs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_querystatus.operators.base import QueryOperator, template_fields_with
from airflow_querystatus.status import ATHENA_CALCULATION_EXECUTION

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class AthenaCalculationExecutionOperator(QueryOperator):
    """Run StartCalculationExecution in an existing Spark session, wait, and return
    ``{"calculation_execution_id", "state", "statistics", "result"}`` where ``result`` holds
    the S3 URIs of stdout, stderr and the result (GetCalculationExecution).

    :param session_id: An IDLE Athena Spark session. (templated)
    :param code_block: The PySpark code, or a path to a ``.py`` file in the DAG folder. (templated)
    :param description: A description of the calculation. (templated)
    """

    spec = ATHENA_CALCULATION_EXECUTION
    start_arguments = {"SessionId": "session_id", "CodeBlock": "code_block", "Description": "description"}
    template_fields: Sequence[str] = template_fields_with("session_id", "code_block", "description")
    template_ext: Sequence[str] = (".py",)
    template_fields_renderers = {"code_block": "py"}

    def __init__(self, *, session_id: str, code_block: str, description: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session_id = session_id
        self.code_block = code_block
        self.description = description

    def start_query(self, context: Context) -> dict[str, str]:
        if not isinstance(self.code_block, str) or not self.code_block.strip():
            raise self.argument_error("code_block", f"must be non-empty Python code, not {self.code_block!r}")
        params: dict[str, Any] = {"SessionId": self.session_id, "CodeBlock": self.code_block}
        if self.description:
            params["Description"] = self.description
        calculation_id = self.send_start(params)["CalculationExecutionId"]
        return {"calculation_execution_id": calculation_id}

    def fetch_results(self, identifiers: dict[str, str]) -> dict[str, Any]:
        calculation_id = identifiers["calculation_execution_id"]
        answer = self.hook.conn.get_calculation_execution(CalculationExecutionId=calculation_id)
        return {
            "calculation_execution_id": calculation_id,
            "state": answer.get("Status", {}).get("State"),
            "statistics": answer.get("Statistics", {}),
            "result": answer.get("Result", {}),
        }
