"""Delivery doubles: CI builds, git, artifact registry, Kubernetes rollouts and feature flags."""

from __future__ import annotations

from typing import Any

from levante.actions.base import Action, ActionContext, Result
from tests.corpus.doubles.common import attempt, digest

#: Commits between two refs of each repository (newest last).
COMMITS = {
    "payments": [
        {"sha": "a1b2c3d", "title": "feat: SEPA instant transfers", "type": "feat", "breaking": False},
        {"sha": "b2c3d4e", "title": "fix: rounding of fees in JPY", "type": "fix", "breaking": False},
        {"sha": "c3d4e5f", "title": "chore: bump grpc", "type": "chore", "breaking": False},
    ],
    "gateway": [
        {"sha": "d4e5f6a", "title": "feat!: drop v1 routes", "type": "feat", "breaking": True},
        {"sha": "e5f6a7b", "title": "fix: header casing", "type": "fix", "breaking": False},
    ],
    "ledger": [],
    "search": [{"sha": "f6a7b8c", "title": "perf: cache facets", "type": "perf", "breaking": False}],
    "checkout-broken": [{"sha": "0a1b2c3", "title": "fix: flaky basket test", "type": "fix", "breaking": False}],
}


class BuildTrigger(Action):
    """Start a CI pipeline (ci.build_trigger)."""

    def __init__(self, project: str, ref: str, params: dict[str, Any] | None = None) -> None:
        self.project, self.ref, self.params = project, ref, params or {}

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"build_id": f"{self.project}#{int(digest(self.project, self.ref, size=3), 16) % 900 + 100}",
                "project": self.project, "ref": self.ref, "params": self.params, "state": "queued"}


class BuildStatus(Action):
    """Poll a pipeline (ci.build_status): running on the first poll, then passed; projects whose
    name contains ``broken`` fail."""

    def __init__(self, build_id: str) -> None:
        self.build_id = build_id

    def run(self, context: ActionContext) -> dict[str, Any]:
        project = self.build_id.split("#")[0]
        if attempt(context, f"build:{self.build_id}") == 1:
            return {"build_id": self.build_id, "state": "running", "finished": False}
        state = "failed" if "broken" in project else "passed"
        return {"build_id": self.build_id, "state": state, "finished": True,
                "artifact": None if state == "failed"
                else f"registry.acme.io/{project}@sha256:{digest(self.build_id, size=12)}",
                "tests": {"total": 120, "failed": 7 if state == "failed" else 0}}


class GitChangelog(Action):
    """Commits since the last tag (git.changelog)."""

    def __init__(self, repo: str, since: str, until: str = "HEAD") -> None:
        self.repo, self.since, self.until = repo, since, until

    def run(self, context: ActionContext) -> list[dict[str, Any]]:
        if self.repo not in COMMITS:
            raise ValueError(f"repository {self.repo} not found")
        return [dict(c) for c in COMMITS[self.repo]]


class GitTag(Action):
    """Create an annotated tag (git.tag_create); an existing tag (``v0.*``) is refused."""

    def __init__(self, repo: str, tag: str, ref: str = "main", message: str = "") -> None:
        self.repo, self.tag, self.ref, self.message = repo, tag, ref, message

    def run(self, context: ActionContext) -> Any:
        if self.tag.startswith("v0."):
            return Result(error={"repo": self.repo, "tag": self.tag, "error": "tag already exists"})
        return {"repo": self.repo, "tag": self.tag, "ref": self.ref, "sha": digest(self.repo, self.tag, size=7)}


class ArtifactPromote(Action):
    """Copy an image between registries (artifacts.promote)."""

    def __init__(self, image: str, source: str, target: str, tags: list[str] | None = None) -> None:
        self.image, self.source, self.target, self.tags = image, source, target, tags or []

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"image": self.image, "from": self.source, "to": self.target, "tags": self.tags}


class Rollout(Action):
    """Roll a deployment to an image (k8s.rollout); canary weights above 100 are refused."""

    def __init__(self, cluster: str, namespace: str, deployment: str, image: str,
                 replicas: int | None = None, canary_weight: int | None = None) -> None:
        self.cluster, self.namespace, self.deployment = cluster, namespace, deployment
        self.image, self.replicas, self.weight = image, replicas, canary_weight

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.weight is not None and not 0 <= self.weight <= 100:
            raise ValueError(f"canary weight must be 0..100, not {self.weight}")
        return {"cluster": self.cluster, "deployment": f"{self.namespace}/{self.deployment}",
                "image": self.image, "revision": int(digest(self.image, size=2), 16) % 50 + 1,
                "replicas": self.replicas or 3, "canary_weight": self.weight}


class RolloutStatus(Action):
    """Whether a rollout converged (k8s.rollout_status); ``*broken*`` images crash-loop."""

    def __init__(self, cluster: str, namespace: str, deployment: str, image: str | None = None) -> None:
        self.cluster, self.namespace, self.deployment, self.image = cluster, namespace, deployment, image

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.image and "broken" in self.image:
            return {"ready": False, "reason": "CrashLoopBackOff", "available": 0}
        return {"ready": True, "reason": None, "available": 3}


class NodeDrain(Action):
    """Cordon and drain a Kubernetes node (k8s.node_drain); nodes named ``*-pdb`` are blocked by a
    PodDisruptionBudget."""

    def __init__(self, cluster: str, node: str, grace_period: int = 30, cordon_only: bool = False) -> None:
        self.cluster, self.node, self.grace, self.cordon_only = cluster, node, grace_period, cordon_only

    def run(self, context: ActionContext) -> Any:
        if self.node.endswith("-pdb"):
            return Result(error={"node": self.node,
                                 "error": "Cannot evict pod as it would violate the pod's disruption budget."})
        return {"node": self.node, "cordoned": True, "evicted": 0 if self.cordon_only else 4 + len(self.node) % 5}


class NodeUpgrade(Action):
    """Upgrade a node's kubelet (k8s.node_upgrade)."""

    def __init__(self, cluster: str, node: str, version: str) -> None:
        self.cluster, self.node, self.version = cluster, node, version

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"node": self.node, "kubelet": self.version, "rebooted": True}


class NodeUncordon(Action):
    """Make a node schedulable again (k8s.node_uncordon)."""

    def __init__(self, cluster: str, node: str) -> None:
        self.cluster, self.node = cluster, node

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"node": self.node, "schedulable": True}


class FlagSet(Action):
    """Set a feature flag (acme.flag_set)."""

    def __init__(self, flag: str, enabled: bool, percentage: int = 100, environment: str = "production") -> None:
        self.flag, self.enabled, self.percentage, self.environment = flag, enabled, percentage, environment

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"flag": self.flag, "enabled": self.enabled, "percentage": self.percentage,
                "environment": self.environment}


ACTIONS: dict[str, type[Action]] = {
    "ci.build_trigger": BuildTrigger,
    "ci.build_status": BuildStatus,
    "git.changelog": GitChangelog,
    "git.tag_create": GitTag,
    "artifacts.promote": ArtifactPromote,
    "k8s.rollout": Rollout,
    "k8s.rollout_status": RolloutStatus,
    "k8s.node_drain": NodeDrain,
    "k8s.node_upgrade": NodeUpgrade,
    "k8s.node_uncordon": NodeUncordon,
    "acme.flag_set": FlagSet,
}
