"""``GET /v2/executions/{execution_id}/history``: an execution's append-only event history."""

from __future__ import annotations

from typing import Any

import falcon

from levante.api import views
from levante.api.context import ApiContext
from levante.db import repository as repo


def event_view(row: Any) -> dict[str, Any]:
    """One history row as the API shows it (``payload`` stays a JSON object, not a string)."""
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
        with self.ctx.read() as session:
            repo.get_execution(session, execution_id)  # NotFoundError -> 404
            events = [event_view(row) for row in repo.events_of(session, execution_id)]
        resp.media = {"events": events}
