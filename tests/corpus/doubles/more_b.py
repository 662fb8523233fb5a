"""Doubles of the second corpus batch (B): hypervisor migration, block storage, identity, HR and
directory, capacity figures, IP address management and switches, and the log cluster.

Like the other modules, results depend only on the input (and, for the few slow or flaky ones, on
how many times the same task execution has tried: see :func:`common.attempt`).
"""

from __future__ import annotations

import ipaddress
import itertools
from typing import Any

from levante.actions.base import Action, ActionContext, Result
from tests.corpus.doubles.cloud import HYPERVISORS
from tests.corpus.doubles.common import attempt, digest, slug

# --- compute: hypervisors and migrations -----------------------------------------------------------

#: Capacity per hypervisor: (vcpus, vcpus used, memory MiB, memory MiB used, state).
CAPACITY = {
    "cmp-01": (64, 40, 262144, 180224, "up"),
    "cmp-02": (64, 20, 262144, 98304, "up"),
    "cmp-03": (64, 0, 262144, 0, "up"),
    "cmp-04": (32, 30, 131072, 126976, "up"),
    "cmp-05": (64, 0, 262144, 0, "down"),
}


class HypervisorShow(Action):
    """Capacity of one hypervisor (nova.hypervisor_show)."""

    def __init__(self, host: str) -> None:
        self.host = host

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.host not in CAPACITY:
            raise ValueError(f"Hypervisor {self.host} could not be found. (HTTP 404)")
        vcpus, used, mem, mem_used, state = CAPACITY[self.host]
        return {"host": self.host, "vcpus": vcpus, "vcpus_used": used, "memory_mb": mem,
                "memory_mb_used": mem_used, "running_vms": len(HYPERVISORS.get(self.host, [])), "state": state}


class ServersMigrate(Action):
    """Cold-migrate a server (nova.servers_migrate): it stops, moves, and waits in VERIFY_RESIZE."""

    def __init__(self, server: str, host: str | None = None) -> None:
        self.server, self.host = server, host

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"server": self.server, "target": self.host or "scheduler-chosen", "status": "VERIFY_RESIZE"}


class ServersConfirmResize(Action):
    """Confirm a cold migration (nova.servers_confirm_resize)."""

    def __init__(self, server: str) -> None:
        self.server = server

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"server": self.server, "status": "ACTIVE"}


class MigrationGet(Action):
    """Progress of a server's newest migration (nova.migration_get): ``db-*`` servers copy memory
    for two looks before completing; ``*-stuck`` servers fail."""

    def __init__(self, server: str) -> None:
        self.server = server

    def run(self, context: ActionContext) -> dict[str, Any]:
        status = "completed"
        if "db-" in self.server and attempt(context, "migration_get") < 3:
            status = "running"
        if "stuck" in self.server:
            status = "error"
        return {"server": self.server, "status": status, "id": f"mig-{digest(self.server)}"}


class ServicesEnable(Action):
    """Enable the compute service of a host again (nova.services_enable)."""

    def __init__(self, host: str, binary: str = "nova-compute") -> None:
        self.host, self.binary = host, binary

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.host not in CAPACITY:
            raise ValueError(f"Compute host {self.host} could not be found.")
        return {"host": self.host, "binary": self.binary, "status": "enabled"}


# --- block storage ---------------------------------------------------------------------------------

#: Volumes per project: (name, size GiB, type, status, days since last attached).
VOLUMES = {
    "shop": [("shop-db-data", 500, "ssd", "in-use", 0), ("shop-db-wal", 100, "ssd", "in-use", 0),
             ("shop-old-export", 200, "standard", "available", 40), ("shop-scratch", 50, "standard", "available", 3),
             ("shop-legacy-locked", 300, "standard", "available", 400)],
    "analytics": [("an-warehouse", 1800, "ssd", "in-use", 0), ("an-tmp-2025", 900, "standard", "available", 120)],
    "sandbox": [],
}

QUOTAS = {"shop": (2000, 20), "analytics": (3000, 10), "sandbox": (100, 2)}


class QuotaUsage(Action):
    """Block storage quota of a project (cinder.quota_usage)."""

    def __init__(self, project: str) -> None:
        self.project = project

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.project not in QUOTAS:
            raise ValueError(f"Project {self.project} could not be found.")
        gb, count = QUOTAS[self.project]
        vols = VOLUMES[self.project]
        return {"project": self.project, "gigabytes": {"limit": gb, "in_use": sum(v[1] for v in vols)},
                "volumes": {"limit": count, "in_use": len(vols)}}


class VolumesList(Action):
    """Volumes of a project (cinder.volumes_list), optionally of one status."""

    def __init__(self, project: str, status: str | None = None) -> None:
        self.project, self.status = project, status

    def run(self, context: ActionContext) -> list[dict[str, Any]]:
        return [{"id": f"vol-{name}", "name": name, "size": size, "volume_type": vtype, "status": status,
                 "idle_days": idle}
                for name, size, vtype, status, idle in VOLUMES.get(self.project, [])
                if self.status is None or status == self.status]


class VolumeSnapshotCreate(Action):
    """Snapshot a volume (cinder.snapshot_create); an in-use volume needs ``force``."""

    def __init__(self, volume_id: str, name: str, force: bool = False) -> None:
        self.volume_id, self.name, self.force = volume_id, name, force

    def run(self, context: ActionContext) -> dict[str, Any]:
        in_use = any(f"vol-{v[0]}" == self.volume_id and v[3] == "in-use" for vs in VOLUMES.values() for v in vs)
        if in_use and not self.force:
            raise ValueError(f"Invalid volume: Volume {self.volume_id} status must be available, but current "
                             "status is: in-use. (HTTP 400)")
        return {"id": f"vsnap-{digest(self.volume_id, self.name)}", "volume_id": self.volume_id,
                "name": self.name, "status": "available"}


class VolumesDelete(Action):
    """Delete a volume (cinder.volumes_delete); ``*-locked`` volumes are protected."""

    def __init__(self, volume_id: str, cascade: bool = False) -> None:
        self.volume_id, self.cascade = volume_id, cascade

    def run(self, context: ActionContext) -> Any:
        if self.volume_id.endswith("-locked"):
            return Result(error={"volume_id": self.volume_id, "reason": "volume is protected by a lock"})
        return {"deleted": self.volume_id, "cascade": self.cascade}


class VolumeRetype(Action):
    """Change the type of a volume (cinder.volume_retype)."""

    def __init__(self, volume_id: str, new_type: str, migration_policy: str = "never") -> None:
        self.volume_id, self.new_type, self.policy = volume_id, new_type, migration_policy

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.new_type not in ("ssd", "standard", "archive"):
            raise ValueError(f"Volume type {self.new_type} could not be found.")
        return {"volume_id": self.volume_id, "volume_type": self.new_type, "migrated": self.policy == "on-demand"}


# --- identity and billing --------------------------------------------------------------------------

PROJECTS = {
    "acme-shop": {"id": "p-3f1a", "enabled": True, "domain": "customers", "tags": ["paying"], "owner": "ops@shop.io"},
    "acme-trial": {"id": "p-77c0", "enabled": True, "domain": "customers", "tags": ["trial"], "owner": "x@trial.io"},
    "acme-legal": {"id": "p-0bb2", "enabled": True, "domain": "customers", "tags": ["legal-hold"],
                   "owner": "gc@legal.io"},
    "platform": {"id": "p-0001", "enabled": True, "domain": "internal", "tags": ["protected"], "owner": "platform"},
}

ASSIGNMENTS = {
    "acme-shop": [("shop-admin", "admin"), ("shop-ci", "member"), ("shop-ro", "reader")],
    "acme-trial": [("trial-user", "member")],
    "acme-legal": [("legal-admin", "admin")],
    "platform": [("root", "admin")],
}

PROJECT_SERVERS = {"acme-shop": ["shop-web-1", "shop-web-2", "shop-db-1"], "acme-trial": ["trial-vm"],
                   "acme-legal": ["legal-archive"], "platform": []}


class ProjectShow(Action):
    """A project (keystone.project_show)."""

    def __init__(self, project: str) -> None:
        self.project = project

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.project not in PROJECTS:
            raise ValueError(f"Could not find project: {self.project}. (HTTP 404)")
        return {"name": self.project, **PROJECTS[self.project]}


class ProjectUpdate(Action):
    """Enable or disable a project (keystone.project_update)."""

    def __init__(self, project: str, enabled: bool, description: str | None = None) -> None:
        self.project, self.enabled, self.description = project, enabled, description

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"name": self.project, "enabled": self.enabled, "description": self.description}


class ProjectDelete(Action):
    """Delete a project (keystone.project_delete)."""

    def __init__(self, project: str) -> None:
        self.project = project

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"deleted": self.project}


class RoleAssignments(Action):
    """Who holds which role on a project (keystone.role_assignments)."""

    def __init__(self, project: str) -> None:
        self.project = project

    def run(self, context: ActionContext) -> list[dict[str, str]]:
        return [{"user": u, "role": r} for u, r in ASSIGNMENTS.get(self.project, [])]


class RoleRevoke(Action):
    """Revoke a role (keystone.role_revoke)."""

    def __init__(self, project: str, user: str, role: str) -> None:
        self.project, self.user, self.role = project, user, role

    def run(self, context: ActionContext) -> dict[str, str]:
        return {"project": self.project, "user": self.user, "role": self.role, "revoked": "yes"}


class ProjectServers(Action):
    """Servers of a project (nova.project_servers)."""

    def __init__(self, project: str) -> None:
        self.project = project

    def run(self, context: ActionContext) -> list[dict[str, Any]]:
        return [{"id": f"srv-{n}", "name": n, "status": "ACTIVE"} for n in PROJECT_SERVERS.get(self.project, [])]


class FinalInvoice(Action):
    """Close a project's billing account (billing.final_invoice); trials owe nothing."""

    def __init__(self, project: str, close_date: str, currency: str = "EUR") -> None:
        self.project, self.close_date, self.currency = project, close_date, currency

    def run(self, context: ActionContext) -> dict[str, Any]:
        tags = PROJECTS.get(self.project, {}).get("tags", [])
        amount = 0 if "trial" in tags else 100 + int(digest(self.project, size=3), 16) % 900
        return {"invoice": f"INV-{digest(self.project, self.close_date, size=5).upper()}",
                "amount": amount, "currency": self.currency, "closed": self.close_date}


# --- HR, directory and accounts --------------------------------------------------------------------

EMPLOYEES = {
    "E1001": {"first": "Jane", "last": "Doe", "department": "engineering", "manager": "E0042",
              "location": "Berlin", "contractor": False, "start_date": "2026-02-02"},
    "E1002": {"first": "Omar", "last": "Haddad", "department": "finance", "manager": "E0007",
              "location": "Lisbon", "contractor": False, "start_date": "2026-02-09"},
    "E1003": {"first": "Li", "last": "Wei", "department": "engineering", "manager": "E0042",
              "location": "Remote", "contractor": True, "start_date": "2026-03-01"},
    "E1004": {"first": "John", "last": "Doe", "department": "sales", "manager": "E0100",
              "location": "Berlin", "contractor": False, "start_date": "2026-02-02"},
}

#: Accounts that already exist in the directory.
TAKEN_USERNAMES = {"jdoe", "admin", "root"}


class EmployeeGet(Action):
    """An employee record from the HR system (hr.employee_get)."""

    def __init__(self, employee_id: str) -> None:
        self.employee_id = employee_id

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.employee_id not in EMPLOYEES:
            raise LookupError(f"employee {self.employee_id} not found in HR")
        return {"id": self.employee_id, **EMPLOYEES[self.employee_id]}


class DirectoryUserCreate(Action):
    """Create a directory account (directory.user_create); a taken name is a conflict (an error
    result the workflow can read, as the directory's API answers 409)."""

    def __init__(self, username: str, given_name: str, surname: str, email: str, ou: str = "people") -> None:
        self.username, self.given, self.surname, self.email, self.ou = username, given_name, surname, email, ou

    def run(self, context: ActionContext) -> Any:
        if self.username in TAKEN_USERNAMES:
            return Result(error={"status": 409, "error": "username taken", "username": self.username})
        return {"dn": f"uid={self.username},ou={self.ou},dc=acme,dc=io", "username": self.username,
                "email": self.email, "uid_number": 20000 + int(digest(self.username, size=3), 16) % 1000}


class DirectoryGroupAdd(Action):
    """Add an account to a group (directory.group_add); ``*-admins`` groups are managed elsewhere."""

    def __init__(self, username: str, group: str) -> None:
        self.username, self.group = username, group

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.group.endswith("-admins"):
            raise PermissionError(f"group {self.group} is managed by the access review, not by onboarding")
        return {"group": self.group, "member": self.username}


class MailboxCreate(Action):
    """Create a mailbox (mail.mailbox_create)."""

    def __init__(self, address: str, quota_gb: int = 50, aliases: list[str] | None = None) -> None:
        self.address, self.quota, self.aliases = address, quota_gb, aliases or []

    def run(self, context: ActionContext) -> dict[str, Any]:
        if "@" not in self.address:
            raise ValueError(f"not an e-mail address: {self.address!r}")
        return {"address": self.address, "quota_gb": self.quota, "aliases": self.aliases}


class VcsInvite(Action):
    """Invite an account to the code host's organisation (vcs.invite)."""

    def __init__(self, username: str, org: str, teams: list[str] | None = None) -> None:
        self.username, self.org, self.teams = username, org, teams or []

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"invitation": f"inv-{digest(self.org, self.username)}", "org": self.org, "teams": self.teams}


# --- capacity --------------------------------------------------------------------------------------

CLUSTERS = {
    "eu": [("eu-compute-a", "compute"), ("eu-compute-b", "compute"), ("eu-ceph-1", "storage")],
    "us": [("us-compute-a", "compute"), ("us-ceph-1", "storage")],
    "ap": [],
}

#: (used, total, growth per week) per cluster, in the cluster's unit (vCPU or TiB).
USAGE = {
    "eu-compute-a": (1700, 2048, 24), "eu-compute-b": (900, 2048, 10), "eu-ceph-1": (410, 500, 6),
    "us-compute-a": (1200, 4096, 40), "us-ceph-1": (95, 800, 2),
}


class ClusterList(Action):
    """Clusters of a region (capacity.clusters)."""

    def __init__(self, region: str) -> None:
        self.region = region

    def run(self, context: ActionContext) -> list[dict[str, str]]:
        if self.region not in CLUSTERS:
            raise ValueError(f"unknown region {self.region!r}")
        return [{"name": n, "kind": k, "region": self.region} for n, k in CLUSTERS[self.region]]


class ClusterUsage(Action):
    """Usage of one cluster (capacity.usage); the metrics store times out once for ``us-*``."""

    def __init__(self, cluster: str, window_days: int = 28) -> None:
        self.cluster, self.window = cluster, window_days

    def run(self, context: ActionContext) -> Any:
        if self.cluster.startswith("us-") and attempt(context, f"usage:{self.cluster}") == 1:
            return Result(error={"cluster": self.cluster, "error": "query timed out"})
        used, total, growth = USAGE[self.cluster]
        return {"cluster": self.cluster, "used": used, "total": total, "growth_per_week": growth,
                "unit": "TiB" if "ceph" in self.cluster else "vCPU", "window_days": self.window}


# --- IP address management and switches ------------------------------------------------------------

VLAN_POOLS = {"fra": 100, "ams": 300, "full": None}


class VlanAllocate(Action):
    """Allocate a VLAN at a site (ipam.vlan_allocate); the ``full`` site has none left."""

    def __init__(self, site: str, purpose: str) -> None:
        self.site, self.purpose = site, purpose

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.site not in VLAN_POOLS:
            raise ValueError(f"unknown site {self.site!r}")
        base = VLAN_POOLS[self.site]
        if base is None:
            raise RuntimeError(f"VLAN pool of site {self.site} exhausted")
        return {"vlan": base + int(digest(self.purpose, size=2), 16) % 50, "site": self.site,
                "reservation": f"res-vlan-{digest(self.site, self.purpose)}"}


class PrefixAllocate(Action):
    """Allocate the next free prefix of a length from a pool (ipam.prefix_allocate)."""

    def __init__(self, pool: str, length: int, purpose: str = "") -> None:
        self.pool, self.length, self.purpose = pool, length, purpose

    def run(self, context: ActionContext) -> dict[str, Any]:
        net = ipaddress.ip_network(self.pool)
        if self.length < net.prefixlen or self.length > 30:
            raise ValueError(f"cannot carve a /{self.length} out of {self.pool}")
        subnets = list(itertools.islice(net.subnets(new_prefix=self.length), 256))
        chosen = subnets[int(digest(self.purpose, size=2), 16) % len(subnets)]
        return {"prefix": str(chosen), "gateway": str(chosen.network_address + 1),
                "reservation": f"res-pfx-{digest(self.pool, self.purpose)}"}


class IpamRelease(Action):
    """Release a reservation (ipam.release)."""

    def __init__(self, reservation: str) -> None:
        self.reservation = reservation

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"released": self.reservation}


class SwitchConfig(Action):
    """Push a VLAN and its ports to a switch (netdev.switch_config); a ``*-busy`` switch's config
    session is locked the first two tries."""

    def __init__(self, switch: str, vlan: int, ports: list[str], description: str = "", mtu: int = 9000) -> None:
        self.switch, self.vlan, self.ports, self.description, self.mtu = switch, vlan, ports, description, mtu

    def run(self, context: ActionContext) -> Any:
        if self.switch.endswith("-busy") and attempt(context, f"switch:{self.switch}") <= 2:
            return Result(error={"switch": self.switch, "error": "configuration session locked by another user"})
        return {"switch": self.switch, "vlan": self.vlan, "ports": sorted(self.ports), "mtu": self.mtu,
                "candidate": f"cfg-{digest(self.switch, self.vlan)}"}


class ConfigCommit(Action):
    """Commit a switch candidate configuration (netdev.config_commit), with a confirm timer."""

    def __init__(self, switch: str, candidate: str, confirm_minutes: int = 5) -> None:
        self.switch, self.candidate, self.confirm = switch, candidate, confirm_minutes

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"switch": self.switch, "committed": self.candidate, "confirm_minutes": self.confirm}


class FirewallRules(Action):
    """Apply firewall rules to a zone (fw.rule_apply); ``any`` to ``any`` is refused."""

    def __init__(self, zone: str, rules: list[dict[str, Any]]) -> None:
        self.zone, self.rules = zone, rules

    def run(self, context: ActionContext) -> dict[str, Any]:
        for rule in self.rules:
            if rule.get("source") == "any" and rule.get("port") == "any":
                raise ValueError(f"rule {rule.get('name', '?')} opens any port to any source")
        return {"zone": self.zone, "applied": [r.get("name") for r in self.rules],
                "policy_id": f"pol-{digest(self.zone, len(self.rules))}"}


# --- log cluster -----------------------------------------------------------------------------------

#: Indices per pattern prefix: (suffix, size GiB, age days).
INDICES = {
    "app": [("2026.01.01", 42, 30), ("2026.01.15", 38, 16), ("2026.01.25", 51, 6), ("2026.01.30", 12, 1)],
    "audit": [("2025.06", 8, 214), ("2025.12", 9, 32), ("2026.01", 3, 1)],
    "frozen": [("2024.01", 5, 700)],
}


class IndexList(Action):
    """Indices matching ``<prefix>-*`` (logs.indices)."""

    def __init__(self, cluster: str, prefix: str) -> None:
        self.cluster, self.prefix = cluster, prefix

    def run(self, context: ActionContext) -> list[dict[str, Any]]:
        return [{"index": f"{self.prefix}-{suffix}", "size_gb": size, "age_days": age,
                 "frozen": self.prefix == "frozen"} for suffix, size, age in INDICES.get(self.prefix, [])]


class IndexRollover(Action):
    """Roll an alias over to a new index when it is big enough (logs.rollover)."""

    def __init__(self, cluster: str, alias: str, max_size_gb: int = 50) -> None:
        self.cluster, self.alias, self.max_size = cluster, alias, max_size_gb

    def run(self, context: ActionContext) -> dict[str, Any]:
        current = INDICES.get(self.alias, [("none", 0, 0)])[-1]
        rolled = current[1] >= self.max_size
        return {"alias": self.alias, "rolled_over": rolled, "old_index": f"{self.alias}-{current[0]}",
                "new_index": f"{self.alias}-{current[0]}-000002" if rolled else None}


class IndexDelete(Action):
    """Delete an index (logs.index_delete); frozen indices need an unfreeze first."""

    def __init__(self, cluster: str, index: str) -> None:
        self.cluster, self.index = cluster, index

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.index.startswith("frozen-"):
            raise RuntimeError(f"index [{self.index}] is frozen: blocked by: [FORBIDDEN/8/index write (api)]")
        return {"acknowledged": True, "index": self.index}


class IndexSnapshot(Action):
    """Snapshot indices into a repository (logs.snapshot)."""

    def __init__(self, cluster: str, repository: str, indices: list[str], name: str | None = None) -> None:
        self.cluster, self.repository, self.indices, self.name = cluster, repository, indices, name

    def run(self, context: ActionContext) -> dict[str, Any]:
        if not self.indices:
            raise ValueError("a snapshot needs at least one index")
        name = self.name or f"snap-{digest(*self.indices)}"
        return {"snapshot": name, "repository": self.repository, "indices": len(self.indices), "state": "SUCCESS"}


class ConsumerLag(Action):
    """Lag of a consumer group (logs.consumer_lag): shrinks by 40,000 messages per look."""

    def __init__(self, group: str, topic: str = "logs") -> None:
        self.group, self.topic = group, topic

    def run(self, context: ActionContext) -> dict[str, Any]:
        start = 100_000 if "behind" in self.group else 500
        lag = max(0, start - 40_000 * (attempt(context, f"lag:{self.group}") - 1))
        return {"group": self.group, "topic": self.topic, "lag": lag}


class PipelinePut(Action):
    """Install an ingest pipeline (logs.pipeline_put); a grok pattern must name its fields."""

    def __init__(self, cluster: str, name: str, processors: list[dict[str, Any]]) -> None:
        self.cluster, self.name, self.processors = cluster, name, processors

    def run(self, context: ActionContext) -> dict[str, Any]:
        for proc in self.processors:
            pattern = proc.get("grok", {}).get("pattern")
            if pattern is not None and "%{" not in pattern:
                raise ValueError(f"pipeline {self.name}: grok pattern {pattern!r} extracts no field")
        return {"pipeline": self.name, "processors": [next(iter(p)) for p in self.processors],
                "version": 1 + len(self.processors)}


class PipelineSimulate(Action):
    """Run sample lines through a pipeline (logs.pipeline_simulate): parses ``LEVEL service: text``."""

    def __init__(self, cluster: str, name: str, docs: list[str]) -> None:
        self.cluster, self.name, self.docs = cluster, name, docs

    def run(self, context: ActionContext) -> list[dict[str, Any]]:
        out = []
        for line in self.docs:
            head, _, text = line.partition(": ")
            level, _, service = head.partition(" ")
            ok = bool(text) and level.isupper()
            out.append({"parsed": ok, "level": level if ok else None, "service": slug(service) if ok else None})
        return out


ACTIONS: dict[str, type[Action]] = {
    "nova.hypervisor_show": HypervisorShow,
    "nova.servers_migrate": ServersMigrate,
    "nova.servers_confirm_resize": ServersConfirmResize,
    "nova.migration_get": MigrationGet,
    "nova.services_enable": ServicesEnable,
    "nova.project_servers": ProjectServers,
    "cinder.quota_usage": QuotaUsage,
    "cinder.volumes_list": VolumesList,
    "cinder.snapshot_create": VolumeSnapshotCreate,
    "cinder.volumes_delete": VolumesDelete,
    "cinder.volume_retype": VolumeRetype,
    "keystone.project_show": ProjectShow,
    "keystone.project_update": ProjectUpdate,
    "keystone.project_delete": ProjectDelete,
    "keystone.role_assignments": RoleAssignments,
    "keystone.role_revoke": RoleRevoke,
    "billing.final_invoice": FinalInvoice,
    "hr.employee_get": EmployeeGet,
    "directory.user_create": DirectoryUserCreate,
    "directory.group_add": DirectoryGroupAdd,
    "mail.mailbox_create": MailboxCreate,
    "vcs.invite": VcsInvite,
    "capacity.clusters": ClusterList,
    "capacity.usage": ClusterUsage,
    "ipam.vlan_allocate": VlanAllocate,
    "ipam.prefix_allocate": PrefixAllocate,
    "ipam.release": IpamRelease,
    "netdev.switch_config": SwitchConfig,
    "netdev.config_commit": ConfigCommit,
    "fw.rule_apply": FirewallRules,
    "logs.indices": IndexList,
    "logs.rollover": IndexRollover,
    "logs.index_delete": IndexDelete,
    "logs.snapshot": IndexSnapshot,
    "logs.consumer_lag": ConsumerLag,
    "logs.pipeline_put": PipelinePut,
    "logs.pipeline_simulate": PipelineSimulate,
}
