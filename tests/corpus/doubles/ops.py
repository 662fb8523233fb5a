"""Operations doubles: tickets, chat notifications, approvals, paging, health checks, metrics,
inventory, certificates and monitoring silences."""

from __future__ import annotations

from typing import Any

from levante.actions.base import Action, ActionContext, Result
from tests.corpus.doubles.common import attempt, digest, slug

#: The ticket tracker's open queue (acme.ticket_search returns a filtered copy).
TICKETS = [
    {"key": "OPS-101", "summary": "Disk full on db-01", "component": "database", "priority": "P2",
     "reporter": "nagios", "labels": ["disk", "prod"], "age_hours": 3, "assignee": None},
    {"key": "OPS-102", "summary": "Cannot log in to VPN", "component": "network", "priority": "P3",
     "reporter": "alice", "labels": ["vpn"], "age_hours": 30, "assignee": None},
    {"key": "OPS-103", "summary": "API latency above SLO", "component": "api", "priority": "P1",
     "reporter": "prometheus", "labels": ["latency", "prod", "slo"], "age_hours": 1, "assignee": None},
    {"key": "OPS-104", "summary": "Request new laptop", "component": "it", "priority": "P4",
     "reporter": "bob", "labels": [], "age_hours": 200, "assignee": None},
    {"key": "OPS-105", "summary": "Replication lag on db-02", "component": "database", "priority": "P2",
     "reporter": "prometheus", "labels": ["prod", "replication"], "age_hours": 5, "assignee": "carol"},
    {"key": "OPS-106", "summary": "Certificate expiring for shop.example.com", "component": "security",
     "priority": "P3", "reporter": "certbot", "labels": ["tls"], "age_hours": 48, "assignee": None},
]

ONCALL = {"database": "carol", "network": "dave", "api": "erin", "security": "frank", "it": "helpdesk"}

#: Certificates known to the inventory: days before expiry.
CERTIFICATES = {"shop.example.com": 9, "api.example.com": 45, "intranet.example.com": 2,
                "legacy.example.com": -3, "status.example.com": 120}


class TicketCreate(Action):
    """Open a ticket (acme.ticket_create)."""

    def __init__(self, project: str, summary: str, priority: str = "P3", labels: list[str] | None = None,
                 description: str = "", component: str | None = None) -> None:
        self.project, self.summary, self.priority = project, summary, priority
        self.labels, self.description, self.component = labels or [], description, component

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.priority not in ("P1", "P2", "P3", "P4"):
            raise ValueError(f"priority must be P1..P4, not {self.priority!r}")
        number = int(digest(self.project, self.summary, size=4), 16) % 900 + 100
        return {"key": f"{self.project}-{number}", "summary": self.summary, "priority": self.priority,
                "labels": sorted(self.labels), "status": "Open", "component": self.component}


class TicketUpdate(Action):
    """Change a ticket (acme.ticket_update)."""

    def __init__(self, key: str, status: str | None = None, comment: str | None = None,
                 assignee: str | None = None, fields: dict[str, Any] | None = None) -> None:
        self.key, self.status, self.comment, self.assignee, self.fields = key, status, comment, assignee, fields

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.key.endswith("-000"):
            raise ValueError(f"Issue {self.key} does not exist or you do not have permission to see it.")
        changed = {k: v for k, v in (("status", self.status), ("assignee", self.assignee),
                                     ("comment", self.comment)) if v is not None}
        changed.update(self.fields or {})
        return {"key": self.key, "changed": sorted(changed), **changed}


class TicketSearch(Action):
    """Search the open queue (acme.ticket_search): ``component`` and ``unassigned`` filter."""

    def __init__(self, jql: str = "", component: str | None = None, unassigned: bool = False,
                 max_results: int = 50) -> None:
        self.jql, self.component, self.unassigned, self.max = jql, component, unassigned, max_results

    def run(self, context: ActionContext) -> dict[str, Any]:
        found = [dict(t) for t in TICKETS
                 if (self.component is None or t["component"] == self.component)
                 and (not self.unassigned or t["assignee"] is None)]
        return {"total": len(found), "issues": found[: self.max], "jql": self.jql}


class Notify(Action):
    """Post to a chat channel (acme.notify); the channel ``#nowhere`` does not exist."""

    def __init__(self, channel: str, message: str, severity: str = "info", mentions: list[str] | None = None) -> None:
        self.channel, self.message, self.severity, self.mentions = channel, message, severity, mentions or []

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.channel == "#nowhere":
            return Result(error={"ok": False, "error": "channel_not_found", "channel": self.channel})
        return {"ok": True, "channel": self.channel, "severity": self.severity, "text": self.message,
                "mentions": self.mentions}


class ApprovalRequest(Action):
    """Ask people to approve something (acme.approval_request): asynchronous, the answer comes
    back through the API, like a ticketing system calling back."""

    def __init__(self, approvers: list[str], subject: str, details: dict[str, Any] | None = None,
                 quorum: int = 1) -> None:
        self.approvers, self.subject, self.details, self.quorum = approvers, subject, details, quorum

    def run(self, context: ActionContext) -> Any:
        if not self.approvers:
            raise ValueError("an approval needs at least one approver")
        return None

    def is_sync(self) -> bool:
        return False


class Page(Action):
    """Page the on-call person of a service (acme.page_oncall)."""

    def __init__(self, service: str, summary: str, urgency: str = "high", dedup_key: str | None = None) -> None:
        self.service, self.summary, self.urgency, self.dedup = service, summary, urgency, dedup_key

    def run(self, context: ActionContext) -> dict[str, Any]:
        who = ONCALL.get(self.service)
        if who is None:
            raise ValueError(f"no escalation policy for service {self.service!r}")
        return {"incident": f"PD-{digest(self.service, self.dedup or self.summary, size=5).upper()}",
                "paged": who, "urgency": self.urgency}


class HealthCheck(Action):
    """Probe an endpoint (acme.health_check): ``*-flaky`` endpoints fail twice, ``*-down`` always."""

    def __init__(self, endpoint: str, expect_status: int = 200, timeout: float = 5) -> None:
        self.endpoint, self.expect, self.timeout = endpoint, expect_status, timeout

    def run(self, context: ActionContext) -> Any:
        if "down" in self.endpoint:
            raise ConnectionError(f"connection refused: {self.endpoint}")
        if "flaky" in self.endpoint and attempt(context, f"health:{self.endpoint}") <= 2:
            return Result(error={"endpoint": self.endpoint, "status": 503})
        return {"endpoint": self.endpoint, "status": self.expect, "healthy": True,
                "latency_ms": 20 + int(digest(self.endpoint, size=2), 16) % 50}


class MetricsQuery(Action):
    """Evaluate a metrics query (acme.metrics_query): numbers derived from the query text."""

    def __init__(self, query: str, window: str = "5m", hosts: list[str] | None = None) -> None:
        self.query, self.window, self.hosts = query, window, hosts

    def run(self, context: ActionContext) -> dict[str, Any]:
        hosts = self.hosts or ["host-a", "host-b", "host-c"]
        series = [{"host": h, "value": int(digest(self.query, h, size=3), 16) % 100} for h in hosts]
        return {"query": self.query, "window": self.window, "series": series}


class Inventory(Action):
    """Hosts by role and site from the CMDB (acme.inventory)."""

    HOSTS = [
        {"name": "web-01", "role": "web", "site": "fra", "wave": 1, "os": "ubuntu-22.04"},
        {"name": "web-02", "role": "web", "site": "fra", "wave": 2, "os": "ubuntu-22.04"},
        {"name": "web-03", "role": "web", "site": "ams", "wave": 2, "os": "ubuntu-24.04"},
        {"name": "db-01", "role": "db", "site": "fra", "wave": 3, "os": "rocky-9"},
        {"name": "db-02", "role": "db", "site": "ams", "wave": 3, "os": "rocky-9"},
        {"name": "cache-01", "role": "cache", "site": "fra", "wave": 1, "os": "ubuntu-24.04"},
        {"name": "legacy-01", "role": "web", "site": "ams", "wave": 1, "os": "rocky-8"},
    ]

    def __init__(self, role: str | None = None, site: str | None = None) -> None:
        self.role, self.site = role, site

    def run(self, context: ActionContext) -> list[dict[str, Any]]:
        return [dict(h) for h in self.HOSTS
                if (self.role is None or h["role"] == self.role) and (self.site is None or h["site"] == self.site)]


class PatchHost(Action):
    """Apply OS patches to a host (acme.patch_host); ``legacy-*`` hosts fail with a dependency error."""

    def __init__(self, host: str, reboot: bool = True, packages: list[str] | None = None) -> None:
        self.host, self.reboot, self.packages = host, reboot, packages

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.host.startswith("legacy"):
            raise RuntimeError(f"dnf: conflicting requests on {self.host}: openssl-libs requires openssl-3")
        count = len(self.packages) if self.packages else 3 + int(digest(self.host, size=2), 16) % 10
        return {"host": self.host, "updated": count, "rebooted": self.reboot}


class CertStatus(Action):
    """Days before a certificate expires (acme.cert_status)."""

    def __init__(self, domain: str) -> None:
        self.domain = domain

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.domain not in CERTIFICATES:
            raise KeyError(f"no certificate on record for {self.domain}")
        days = CERTIFICATES[self.domain]
        return {"domain": self.domain, "days_left": days, "expired": days < 0,
                "serial": digest(self.domain, size=8).upper()}


class CertIssue(Action):
    """Issue a certificate from the internal CA (acme.cert_issue); wildcards need a DNS challenge."""

    def __init__(self, domain: str, sans: list[str] | None = None, challenge: str = "http-01",
                 key_type: str = "ec256") -> None:
        self.domain, self.sans, self.challenge, self.key_type = domain, sans or [], challenge, key_type

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.domain.startswith("*.") and self.challenge != "dns-01":
            raise ValueError(f"wildcard {self.domain} requires the dns-01 challenge")
        return {"domain": self.domain, "sans": self.sans, "serial": digest("new", self.domain, size=8).upper(),
                "valid_days": 90, "key_type": self.key_type, "pem_ref": f"vault:pki/{slug(self.domain)}"}


class SilenceCreate(Action):
    """Silence alerts during maintenance (acme.silence_create)."""

    def __init__(self, matchers: dict[str, str], duration: str = "1h", comment: str = "") -> None:
        self.matchers, self.duration, self.comment = matchers, duration, comment

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"silence_id": f"sil-{digest(sorted(self.matchers.items()), self.duration)}",
                "matchers": self.matchers, "duration": self.duration}


class Flaky(Action):
    """Fails its first ``fail_times`` runs in a task execution, then returns ``payload`` (acme.flaky)."""

    def __init__(self, fail_times: int = 1, payload: Any = None, error: str = "temporarily unavailable") -> None:
        self.fail_times, self.payload, self.error = fail_times, payload, error

    def run(self, context: ActionContext) -> Any:
        number = attempt(context, "flaky")
        if number <= self.fail_times:
            return Result(error={"attempt": number, "error": self.error})
        return {"attempt": number, "payload": self.payload}


ACTIONS: dict[str, type[Action]] = {
    "acme.ticket_create": TicketCreate,
    "acme.ticket_update": TicketUpdate,
    "acme.ticket_search": TicketSearch,
    "acme.notify": Notify,
    "acme.approval_request": ApprovalRequest,
    "acme.page_oncall": Page,
    "acme.health_check": HealthCheck,
    "acme.metrics_query": MetricsQuery,
    "acme.inventory": Inventory,
    "acme.patch_host": PatchHost,
    "acme.cert_status": CertStatus,
    "acme.cert_issue": CertIssue,
    "acme.silence_create": SilenceCreate,
    "acme.flaky": Flaky,
}
