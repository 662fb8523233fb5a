"""Mistral resources Levante does not have: their lists answer Mistral's shape, empty (nothing of the
kind can exist), and everything else answers 501 with a message naming the missing feature, so that
``mistral event-trigger-list`` prints an empty table and ``mistral event-trigger-create`` says why
it cannot work, instead of a bare 404 that reads like a wrong URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import falcon


@dataclass(frozen=True)
class Feature:
    """A Mistral feature Levante leaves out, and what to use instead."""

    #: Plural, as the message says it ("Event triggers").
    name: str
    #: Why it is left out, or what to do instead.
    instead: str
    #: The collection key of Mistral's list answer (``event_triggers``).
    collection: str


EVENT_TRIGGERS = Feature(
    "Event triggers", "Levante does not listen to OpenStack notifications; start executions from cron "
    "triggers, the API, or signal a running execution (POST /v2/executions/<id>/signals/<name>)",
    "event_triggers")
CODE_SOURCES = Feature(
    "Code sources", "Levante does not load Python code sent through the API; register actions through the "
    "'levante.actions' entry point or 'levante server --actions-module'", "code_sources")
DYNAMIC_ACTIONS = Feature(
    "Dynamic actions", "they are built from code sources, which Levante does not load; register actions "
    "through the 'levante.actions' entry point or 'levante server --actions-module'", "dynamic_actions")
MEMBERS = Feature(
    "Workflow members (sharing a workflow with other projects)", "Levante has no projects: every API key "
    "sees every workflow", "members")


def not_supported(feature: Feature, req: falcon.Request) -> falcon.HTTPError:
    """The 501 error for a request to ``feature``."""
    return falcon.HTTPError(falcon.HTTP_501, title="Not Implemented",
                            description=f"{feature.name} are not supported by Levante ({req.method} "
                                        f"{req.path}): {feature.instead}.")


class UnsupportedCollection:
    """``GET`` answers Mistral's empty list; ``POST`` and ``PUT`` answer 501."""

    def __init__(self, feature: Feature) -> None:
        self.feature = feature

    def on_get(self, req: falcon.Request, resp: falcon.Response, **params: Any) -> None:
        resp.media = {self.feature.collection: []}

    def on_post(self, req: falcon.Request, resp: falcon.Response, **params: Any) -> None:
        raise not_supported(self.feature, req)

    def on_put(self, req: falcon.Request, resp: falcon.Response, **params: Any) -> None:
        raise not_supported(self.feature, req)


class UnsupportedItem:
    """``GET``, ``PUT`` and ``DELETE`` answer 501 (no item of the kind can exist)."""

    def __init__(self, feature: Feature) -> None:
        self.feature = feature

    def on_get(self, req: falcon.Request, resp: falcon.Response, **params: Any) -> None:
        raise not_supported(self.feature, req)

    def on_put(self, req: falcon.Request, resp: falcon.Response, **params: Any) -> None:
        raise not_supported(self.feature, req)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, **params: Any) -> None:
        raise not_supported(self.feature, req)


def routes() -> list[tuple[str, Any]]:
    """The routes of the unsupported resources."""
    found: list[tuple[str, Any]] = []
    for feature, path in ((EVENT_TRIGGERS, "/v2/event_triggers"), (CODE_SOURCES, "/v2/code_sources"),
                          (DYNAMIC_ACTIONS, "/v2/dynamic_actions"),
                          (MEMBERS, "/v2/workflows/{identifier}/members")):
        item = "/{member_id}" if feature is MEMBERS else "/{identifier}"
        found += [(path, UnsupportedCollection(feature)), (path + item, UnsupportedItem(feature))]
    return found
