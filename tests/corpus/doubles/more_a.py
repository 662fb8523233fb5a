"""Doubles for the incident, triage, database, Kubernetes, certificate, DNS and patching workbooks:
monitoring context, runbooks, a status page, a text classifier, PostgreSQL maintenance, cluster
upgrades, etcd, a secrets store, TLS endpoints, DNS providers, a registrar and a vulnerability
scanner. Names that end a behaviour (``*-down``, ``*-pdb`` ...) are given in each docstring.
"""

from __future__ import annotations

from typing import Any

from levante.actions.base import Action, ActionContext, Result
from tests.corpus.doubles.common import attempt, digest, slug

#: What the monitoring system knows about each service.
SERVICES = {
    "checkout": {"tier": 1, "owner": "api", "runbook": "restart-pods", "customer_facing": True},
    "search": {"tier": 2, "owner": "api", "runbook": "clear-cache", "customer_facing": True},
    "billing-db": {"tier": 1, "owner": "database", "runbook": "failover-replica", "customer_facing": False},
    "vpn": {"tier": 3, "owner": "network", "runbook": "restart-tunnel", "customer_facing": False},
}

#: The steps of each runbook; a step named ``manual-*`` cannot be automated.
RUNBOOKS = {
    "restart-pods": ["scale-down", "scale-up", "warm-cache"],
    "clear-cache": ["flush-redis", "warm-cache"],
    "failover-replica": ["fence-primary", "manual-promote"],
    "restart-tunnel": ["restart-ipsec"],
}


class AlertContext(Action):
    """Tier, owner and runbook of a service (mon.alert_context); unknown services raise."""

    def __init__(self, service: str, host: str | None = None) -> None:
        self.service, self.host = service, host

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.service not in SERVICES:
            raise KeyError(f"service {self.service!r} is not in the service catalog")
        info = SERVICES[self.service]
        return {"service": self.service, "host": self.host, **info,
                "dashboard": f"https://grafana.acme.io/d/{slug(self.service)}"}


class RunbookSteps(Action):
    """The steps of a runbook (runbook.steps)."""

    def __init__(self, runbook: str) -> None:
        self.runbook = runbook

    def run(self, context: ActionContext) -> list[str]:
        return list(RUNBOOKS.get(self.runbook, []))


class RunbookExecute(Action):
    """Run one runbook step on a host (runbook.execute): ``manual-*`` steps fail, ``warm-cache``
    times out once per task execution before it works."""

    def __init__(self, step: str, host: str, dry_run: bool = False) -> None:
        self.step, self.host, self.dry_run = step, host, dry_run

    def run(self, context: ActionContext) -> Any:
        if self.step.startswith("manual-"):
            raise RuntimeError(f"step {self.step} needs a human: no automation for it")
        if self.step == "warm-cache" and not self.dry_run and attempt(context, "warm-cache") == 1:
            return Result(error={"step": self.step, "error": "timed out after 30s"})
        return {"step": self.step, "host": self.host, "changed": not self.dry_run}


class StatusPage(Action):
    """Open or update a public incident (statuspage.incident)."""

    def __init__(self, component: str, status: str, message: str, incident_id: str | None = None) -> None:
        self.component, self.status, self.message, self.incident_id = component, status, message, incident_id

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.status not in ("investigating", "identified", "monitoring", "resolved"):
            raise ValueError(f"unknown incident status {self.status!r}")
        return {"id": self.incident_id or f"SP-{digest(self.component, size=4).upper()}",
                "component": self.component, "status": self.status, "message": self.message}


class DocCreate(Action):
    """Create a document from a template (docs.create)."""

    def __init__(self, title: str, template: str = "blank", sections: dict[str, Any] | None = None) -> None:
        self.title, self.template, self.sections = title, template, sections or {}

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"url": f"https://wiki.acme.io/{self.template}/{slug(self.title)}", "sections": sorted(self.sections)}


class Classify(Action):
    """Guess the component of a ticket from its text (nlp.classify): keywords, with a confidence."""

    KEYWORDS = {"database": ["db", "replication", "postgres", "disk"], "network": ["vpn", "dns", "firewall"],
                "api": ["latency", "api", "timeout", "500"], "security": ["certificate", "cve", "tls"],
                "it": ["laptop", "password", "badge"]}

    def __init__(self, text: str, labels: list[str] | None = None) -> None:
        self.text, self.labels = text, labels or []

    def run(self, context: ActionContext) -> dict[str, Any]:
        words = [w.strip(".,:").lower() for w in self.text.split()] + [str(x).lower() for x in self.labels]
        scores = {c: sum(w in keys for w in words) for c, keys in self.KEYWORDS.items()}
        best = max(sorted(scores), key=lambda c: scores[c])
        hits = scores[best]
        return {"component": best if hits else "unknown", "confidence": min(1.0, round(0.3 * hits + 0.2, 2)),
                "urgent": any(w in ("down", "outage", "slo", "prod") for w in words)}


#: Tables per database cluster: (table, dead tuple ratio, index bloat ratio, size GiB).
TABLES = {
    "orders-pg": [("orders", 0.31, 0.10, 120), ("order_items", 0.05, 0.42, 300), ("audit_log", 0.55, 0.05, 900),
                  ("customers", 0.02, 0.01, 8)],
    "billing-pg": [("invoices", 0.12, 0.08, 60), ("payments", 0.25, 0.35, 45)],
    "quiet-pg": [("settings", 0.0, 0.0, 1)],
}


class TableStats(Action):
    """Bloat statistics of a cluster's tables (pg.table_stats)."""

    def __init__(self, cluster: str, min_size_gb: int = 0) -> None:
        self.cluster, self.min_size = cluster, min_size_gb

    def run(self, context: ActionContext) -> list[dict[str, Any]]:
        if self.cluster not in TABLES:
            raise ConnectionError(f"could not connect to {self.cluster}: no such cluster")
        return [{"table": t, "dead_ratio": d, "index_bloat": i, "size_gb": s}
                for t, d, i, s in TABLES[self.cluster] if s >= self.min_size]


class Vacuum(Action):
    """VACUUM a table (pg.vacuum); ``audit_log`` holds a lock the first time unless ``full`` is false."""

    def __init__(self, cluster: str, table: str, full: bool = False, analyze: bool = True) -> None:
        self.cluster, self.table, self.full, self.analyze = cluster, table, full, analyze

    def run(self, context: ActionContext) -> Any:
        if self.table == "audit_log" and self.full and attempt(context, f"vacuum:{self.table}") == 1:
            return Result(error={"table": self.table, "error": "canceling statement due to lock timeout"})
        return {"table": self.table, "full": self.full, "analyzed": self.analyze,
                "reclaimed_gb": sum(round(d * s) for t, d, _, s in TABLES.get(self.cluster, []) if t == self.table)}


class Reindex(Action):
    """REINDEX a table's indexes (pg.reindex)."""

    def __init__(self, cluster: str, table: str, concurrently: bool = True) -> None:
        self.cluster, self.table, self.concurrently = cluster, table, concurrently

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"table": self.table, "concurrently": self.concurrently, "indexes": 1 + len(self.table) % 3}


class ClusterStatus(Action):
    """Members of a PostgreSQL cluster (pg.cluster_status)."""

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster

    def run(self, context: ActionContext) -> dict[str, Any]:
        name = self.cluster.removesuffix("-pg")
        return {"cluster": self.cluster, "primary": f"{name}-db-1",
                "replicas": [f"{name}-db-2", f"{name}-db-3"] if self.cluster != "quiet-pg" else []}


class Promote(Action):
    """Promote a replica (pg.promote); fencing or promoting a ``*-db-3`` fails (split brain guard)."""

    def __init__(self, cluster: str, node: str) -> None:
        self.cluster, self.node = cluster, node

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.node.endswith("-db-3"):
            raise RuntimeError(f"{self.node}: timeline diverged, refusing to promote")
        return {"cluster": self.cluster, "primary": self.node, "timeline": 2 + len(self.node) % 3}


class Fence(Action):
    """Stop the old primary accepting writes (pg.fence)."""

    def __init__(self, cluster: str, node: str, mode: str = "read-only") -> None:
        self.cluster, self.node, self.mode = cluster, node, mode

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"node": self.node, "fenced": True, "mode": self.mode}


#: Kubernetes clusters: control plane version and node pools.
CLUSTERS = {
    "prod-eu1": {"version": "1.29.6", "pools": {"system": ["eu1-sys-1", "eu1-sys-2"],
                                                "workers": ["eu1-wrk-1", "eu1-wrk-2", "eu1-wrk-3"]}},
    "prod-us1": {"version": "1.29.6", "pools": {"system": ["us1-sys-1"], "workers": ["us1-wrk-1", "us1-wrk-2-pdb"]}},
    "lab": {"version": "1.27.3", "pools": {"all": ["lab-1"]}},
}


class ClusterInfo(Action):
    """Version and node pools of a cluster (k8s.cluster_info)."""

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.cluster not in CLUSTERS:
            raise LookupError(f"cluster {self.cluster} not found in the fleet registry")
        info = CLUSTERS[self.cluster]
        return {"cluster": self.cluster, "version": info["version"],
                "pools": [{"name": p, "nodes": list(n)} for p, n in info["pools"].items()]}


class ControlPlaneUpgrade(Action):
    """Upgrade the control plane (k8s.control_plane_upgrade): the API server is briefly unavailable,
    so the first call of a task execution fails with a 503."""

    def __init__(self, cluster: str, version: str) -> None:
        self.cluster, self.version = cluster, version

    def run(self, context: ActionContext) -> Any:
        if attempt(context, "control-plane") == 1:
            return Result(error={"status": 503, "error": "apiserver unavailable, retry"})
        return {"cluster": self.cluster, "version": self.version, "components": ["apiserver", "scheduler",
                                                                                 "controller-manager"]}


class NodeStatus(Action):
    """Readiness of a node (k8s.node_status): NotReady on the first look after an upgrade."""

    def __init__(self, cluster: str, node: str) -> None:
        self.cluster, self.node = cluster, node

    def run(self, context: ActionContext) -> dict[str, Any]:
        ready = attempt(context, f"node-status:{self.node}") > 1
        return {"node": self.node, "ready": ready, "condition": "Ready" if ready else "NotReady"}


class AddonUpgrade(Action):
    """Upgrade a cluster add-on (k8s.addon_upgrade)."""

    def __init__(self, cluster: str, addon: str, version: str) -> None:
        self.cluster, self.addon, self.version = cluster, addon, version

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"addon": self.addon, "version": self.version, "healthy": True}


class EtcdSnapshot(Action):
    """Snapshot etcd (etcd.snapshot)."""

    def __init__(self, cluster: str, label: str = "manual") -> None:
        self.cluster, self.label = cluster, label

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"snapshot": f"etcd-{self.cluster}-{self.label}-{digest(self.cluster, self.label, size=4)}",
                "size_mb": 40 + len(self.cluster)}


class EtcdRestore(Action):
    """Restore etcd from a snapshot (etcd.restore)."""

    def __init__(self, cluster: str, snapshot: str) -> None:
        self.cluster, self.snapshot = cluster, snapshot

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"cluster": self.cluster, "restored": self.snapshot}


class SecretWrite(Action):
    """Store a secret (vault.secret_write); paths outside ``secret/`` are refused."""

    def __init__(self, path: str, data: dict[str, Any]) -> None:
        self.path, self.data = path, data

    def run(self, context: ActionContext) -> dict[str, Any]:
        if not self.path.startswith("secret/"):
            raise PermissionError(f"permission denied on {self.path}")
        return {"path": self.path, "version": 1 + len(self.path) % 7, "keys": sorted(self.data)}


class CertDeploy(Action):
    """Install a certificate on a load balancer listener (lb.cert_deploy)."""

    def __init__(self, listener: str, pem_ref: str, serial: str) -> None:
        self.listener, self.pem_ref, self.serial = listener, pem_ref, serial

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.listener.endswith("-retired"):
            raise LookupError(f"listener {self.listener} does not exist")
        return {"listener": self.listener, "serial": self.serial, "reloaded": True}


class TlsProbe(Action):
    """The serial a TLS endpoint serves (tls.probe): ``*.slow.*`` hosts serve the old one the first
    time (caches), others the expected one."""

    def __init__(self, host: str, expect_serial: str, port: int = 443) -> None:
        self.host, self.expect, self.port = host, expect_serial, port

    def run(self, context: ActionContext) -> dict[str, Any]:
        stale = ".slow." in self.host and attempt(context, f"probe:{self.host}") == 1
        serial = "OLD" if stale else self.expect
        return {"host": self.host, "port": self.port, "serial": serial, "match": serial == self.expect}


class Revoke(Action):
    """Revoke a certificate (pki.revoke)."""

    def __init__(self, serial: str, reason: str = "superseded") -> None:
        self.serial, self.reason = serial, reason

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"serial": self.serial, "revoked": True, "reason": self.reason}


#: Zones at the old DNS provider.
ZONES = {
    "shop.example.": [
        {"name": "@", "type": "SOA", "value": "ns1.oldns.net. hostmaster.shop.example.", "ttl": 3600},
        {"name": "@", "type": "NS", "value": "ns1.oldns.net.", "ttl": 86400},
        {"name": "@", "type": "A", "value": "203.0.113.10", "ttl": 3600},
        {"name": "www", "type": "CNAME", "value": "shop.example.", "ttl": 3600},
        {"name": "api", "type": "A", "value": "203.0.113.20", "ttl": 300},
        {"name": "@", "type": "MX", "value": "10 mx.mailhost.net.", "ttl": 3600},
    ],
    "blog.example.": [
        {"name": "@", "type": "NS", "value": "ns1.oldns.net.", "ttl": 86400},
        {"name": "@", "type": "A", "value": "198.51.100.7", "ttl": 600},
    ],
    "legacy.example.": [
        {"name": "@", "type": "A", "value": "192.0.2.1", "ttl": 3600},
        {"name": "old", "type": "SPF", "value": "v=spf1 -all", "ttl": 3600},
    ],
}


class ZoneExport(Action):
    """Records of a zone at a provider (dnsprov.zone_export)."""

    def __init__(self, provider: str, zone: str) -> None:
        self.provider, self.zone = provider, zone

    def run(self, context: ActionContext) -> list[dict[str, Any]]:
        if self.zone not in ZONES:
            raise LookupError(f"zone {self.zone} not found at {self.provider}")
        return [dict(r) for r in ZONES[self.zone]]


class ZoneImport(Action):
    """Create a zone with its records at a provider (dnsprov.zone_import); record types the new
    provider does not support are refused as a whole."""

    SUPPORTED = {"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA"}

    def __init__(self, provider: str, zone: str, records: list[dict[str, Any]]) -> None:
        self.provider, self.zone, self.records = provider, zone, records

    def run(self, context: ActionContext) -> Any:
        bad = sorted({r["type"] for r in self.records} - self.SUPPORTED)
        if bad:
            return Result(error={"zone": self.zone, "error": "unsupported record types", "types": bad})
        return {"zone": self.zone, "provider": self.provider, "imported": len(self.records),
                "nameservers": [f"ns{i}.{self.provider}.net." for i in (1, 2)]}


class RecordTtl(Action):
    """Change the TTL of a record set (dnsprov.record_ttl)."""

    def __init__(self, provider: str, zone: str, name: str, type: str, ttl: int) -> None:  # noqa: A002
        self.provider, self.zone, self.name, self.type, self.ttl = provider, zone, name, type, ttl

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "ttl": self.ttl}


class Resolve(Action):
    """Ask one nameserver for a record (dnsprov.resolve): ``api`` records need a second look at a
    new provider (its edge syncs late)."""

    def __init__(self, nameserver: str, zone: str, name: str, type: str = "A") -> None:  # noqa: A002
        self.nameserver, self.zone, self.name, self.type = nameserver, zone, name, type

    def run(self, context: ActionContext) -> dict[str, Any]:
        records = [r for r in ZONES.get(self.zone, []) if r["name"] == self.name and r["type"] == self.type]
        late = self.name == "api" and "oldns" not in self.nameserver and attempt(context, "resolve-api") == 1
        answer = None if late or not records else records[0]["value"]
        return {"name": self.name, "type": self.type, "answer": answer, "nameserver": self.nameserver}


class SetNameservers(Action):
    """Delegate a domain to nameservers at the registrar (registrar.set_nameservers)."""

    def __init__(self, domain: str, nameservers: list[str]) -> None:
        self.domain, self.nameservers = domain, nameservers

    def run(self, context: ActionContext) -> dict[str, Any]:
        if len(self.nameservers) < 2:
            raise ValueError(f"{self.domain}: the registry requires at least two nameservers")
        return {"domain": self.domain, "nameservers": self.nameservers,
                "operation": f"op-{digest(self.domain, self.nameservers, size=5)}"}


#: Open advisories: CVE, severity, affected package, fixed OS releases.
ADVISORIES = [
    {"cve": "CVE-2026-1001", "severity": "critical", "package": "openssl", "os": ["ubuntu-22.04", "rocky-8"]},
    {"cve": "CVE-2026-1002", "severity": "high", "package": "sudo", "os": ["rocky-9"]},
    {"cve": "CVE-2026-1003", "severity": "medium", "package": "curl", "os": ["ubuntu-22.04", "ubuntu-24.04"]},
    {"cve": "CVE-2026-1004", "severity": "low", "package": "less", "os": ["rocky-9"]},
]


class Advisories(Action):
    """Advisories at or above a severity (vuln.advisories)."""

    ORDER = ["low", "medium", "high", "critical"]

    def __init__(self, min_severity: str = "high") -> None:
        self.min = min_severity

    def run(self, context: ActionContext) -> list[dict[str, Any]]:
        if self.min not in self.ORDER:
            raise ValueError(f"severity must be one of {', '.join(self.ORDER)}")
        return [dict(a) for a in ADVISORIES if self.ORDER.index(a["severity"]) >= self.ORDER.index(self.min)]


class Scan(Action):
    """Which of ``cves`` a host is exposed to (vuln.scan): by its OS release."""

    def __init__(self, host: str, os: str, cves: list[str]) -> None:
        self.host, self.os, self.cves = host, os, cves

    def run(self, context: ActionContext) -> dict[str, Any]:
        exposed = [a["cve"] for a in ADVISORIES if a["cve"] in self.cves and self.os in a["os"]]
        return {"host": self.host, "exposed": exposed}


ACTIONS: dict[str, type[Action]] = {
    "mon.alert_context": AlertContext,
    "runbook.steps": RunbookSteps,
    "runbook.execute": RunbookExecute,
    "statuspage.incident": StatusPage,
    "docs.create": DocCreate,
    "nlp.classify": Classify,
    "pg.table_stats": TableStats,
    "pg.vacuum": Vacuum,
    "pg.reindex": Reindex,
    "pg.cluster_status": ClusterStatus,
    "pg.promote": Promote,
    "pg.fence": Fence,
    "k8s.cluster_info": ClusterInfo,
    "k8s.control_plane_upgrade": ControlPlaneUpgrade,
    "k8s.node_status": NodeStatus,
    "k8s.addon_upgrade": AddonUpgrade,
    "etcd.snapshot": EtcdSnapshot,
    "etcd.restore": EtcdRestore,
    "vault.secret_write": SecretWrite,
    "lb.cert_deploy": CertDeploy,
    "tls.probe": TlsProbe,
    "pki.revoke": Revoke,
    "dnsprov.zone_export": ZoneExport,
    "dnsprov.zone_import": ZoneImport,
    "dnsprov.record_ttl": RecordTtl,
    "dnsprov.resolve": Resolve,
    "registrar.set_nameservers": SetNameservers,
    "vuln.advisories": Advisories,
    "vuln.scan": Scan,
}
