"""``/v2/cron_triggers``: start a workflow on a cron pattern (fired by levante.engine.service.cron.CronFirer)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import falcon

from levante.api import listing, views
from levante.api.context import ApiContext
from levante.api.payloads import check_keys, json_body, json_object, text_field
from levante.api.resources.definitions import SCOPES
from levante.engine.service import cron
from levante.exceptions import InputError
from levante.workflows.semantics import name_problem

FILTERS: dict[str, listing.Converter] = {
    "name": listing.as_text, "workflow_name": listing.as_text, "workflow_id": listing.as_text,
    "scope": listing.as_text, "pattern": listing.as_text, "remaining_executions": listing.as_int,
    "first_execution_time": listing.as_time, "next_execution_time": listing.as_time,
    "project_id": listing.as_text, "created_at": listing.as_time, "updated_at": listing.as_time,
    "timezone": listing.as_text,
}
KEYS = {"name", "workflow_name", "workflow_id", "workflow_input", "workflow_params", "pattern",
        "first_execution_time", "remaining_executions", "scope", "timezone"} | set(views.FIELDS["cron_triggers"])


def _first_time(text: Any, now: datetime) -> datetime | None:
    if text in (None, ""):
        return None
    if not isinstance(text, str):
        raise InputError("first_execution_time must be a string 'YYYY-MM-DD HH:MM' (UTC).")
    when = listing.as_time(text).replace(second=0, microsecond=0)
    if when < now + timedelta(seconds=60):
        raise InputError("first_execution_time must be at least one minute in the future.")
    return when


def _count(body: dict[str, Any], pattern: str | None) -> int | None:
    count = body.get("remaining_executions")
    if count is None:
        return None
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= listing.INT_RANGE[1]:
        raise InputError(f"remaining_executions must be a positive integer (at most {listing.INT_RANGE[1]}).")
    if count > 1 and not pattern:
        raise InputError("Pattern must be provided if remaining_executions is greater than 1.")
    return count


class CronTriggerCollection:
    """``GET`` and ``POST`` (create, 201) ``/v2/cron_triggers``."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = listing.parse(req, FILTERS, views.FIELDS["cron_triggers"], extra=("all_projects",))
        rows = self.ctx.resources.cron_triggers(query)
        items = [views.pick(views.cron_trigger_view(r), query.fields) for r in rows]
        resp.media = listing.page(req, "cron_triggers", items, query, rows[-1].id if rows else None)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = json_body(req, self.ctx.max_body)
        check_keys(body, KEYS, "a cron trigger")
        name = text_field(body, "name")
        if not name:
            raise InputError("A cron trigger needs a 'name'.")
        problem = name_problem("cron trigger", name)
        if problem:
            raise InputError(problem[0].upper() + problem[1:] + ".")
        now = datetime.now(timezone.utc)
        pattern = text_field(body, "pattern") or None
        first = _first_time(body.get("first_execution_time"), now)
        if pattern is None and first is None:
            raise InputError("Pattern or first_execution_time must be specified.")
        zone = text_field(body, "timezone") or None  # Levante's own: Mistral reads patterns in UTC
        if zone:
            cron.check_zone(zone)
        # The pattern must fire at some time, even when the first time is given.
        by_pattern = cron.next_time(pattern, now, zone) if pattern else None
        count = _count(body, pattern)
        scope = text_field(body, "scope") or "private"
        if scope not in SCOPES:
            raise InputError(f"Scope must be one of {', '.join(SCOPES)}, not {scope!r}.")
        upcoming = first or by_pattern
        wf_input = json_object(body.get("workflow_input"), "workflow_input") or {}
        params = json_object(body.get("workflow_params"), "workflow_params") or {}
        row = self.ctx.resources.create_cron_trigger(
            name, pattern, text_field(body, "workflow_id") or text_field(body, "workflow_name"),
            workflow_input=wf_input, workflow_params=params, first_execution_time=first,
            next_execution_time=upcoming, remaining_executions=count, scope=scope, timezone=zone)
        resp.status = falcon.HTTP_201
        resp.media = views.cron_trigger_view(row)


class CronTriggerItem:
    """``GET`` and ``DELETE`` ``/v2/cron_triggers/{identifier}`` (a name or an id)."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, identifier: str) -> None:
        fields = listing.parse(req, {}, views.FIELDS["cron_triggers"]).fields
        row = self.ctx.resources.cron_trigger(identifier)
        resp.media = views.pick(views.cron_trigger_view(row), fields)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, identifier: str) -> None:
        self.ctx.resources.delete_cron_trigger(identifier)
        resp.status = falcon.HTTP_204
