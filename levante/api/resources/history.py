"""``GET /v2/executions/{execution_id}/history``: an execution's append-only event history."""

from __future__ import annotations

from typing import Any

import falcon

from levante.api import views
from levante.api.context import ApiContext
from levante.engine.service.stored import HistoryEvent


def event_view(row: HistoryEvent) -> dict[str, Any]:
    """One history entry as the API shows it (``payload`` stays a JSON object, not a string)."""
    return {
        "id": row.id,
        "execution_id": row.execution_id,
        "task_execution_id": row.task_execution_id,
        "action_execution_id": row.action_execution_id,
        "created_at": views.timestamp(row.created_at),
        "kind": row.kind,
        "payload": row.payload,
    }


class ExecutionHistory:
    """``GET /v2/executions/{execution_id}/history`` -> ``{"events": [...]}``, oldest first;
    404 when the execution does not exist."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, execution_id: str) -> None:
        resp.media = {"events": [event_view(row) for row in self.ctx.reads.history(execution_id)]}
