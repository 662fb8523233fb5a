"""``GET /v2/executions/{execution_id}/history``: an execution's append-only event history."""

from __future__ import annotations

from typing import Any

import falcon

from levante.api import views
from levante.api.context import ApiContext
from levante.api.listing import ListQuery, as_int, page
from levante.engine.service.stored import HistoryEvent
from levante.exceptions import InputError


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
    404 when the execution does not exist. Paged as Mistral's collections are: ``limit`` entries
    after the entry whose id is ``marker``, with ``next`` (the URL of the following page) when the
    page is full; without ``limit``, every entry."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, execution_id: str) -> None:
        unknown = sorted(set(req.params) - {"limit", "marker"})
        if unknown:
            raise InputError(f"Unknown query parameter(s): {', '.join(unknown)}.")
        query = ListQuery()
        limit, marker = req.get_param("limit"), req.get_param("marker")
        if limit not in (None, ""):
            query.limit = as_int(limit)
            if query.limit <= 0:
                raise InputError(f"Limit must be positive, not {query.limit}.")
        after = None
        if marker not in (None, ""):
            after = as_int(marker)
        events = self.ctx.reads.history(execution_id, after, query.limit)
        resp.media = page(req, "events", [event_view(row) for row in events], query,
                          str(events[-1].id) if events else None)
