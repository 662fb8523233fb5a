"""Compute, network, bare metal, image, volume, DNS and load balancer doubles.

The fake cloud has a fixed inventory (images, flavors, bare metal nodes, hypervisors); anything a
workflow creates gets an id derived from its name, so outputs are easy to predict.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from levante.actions.base import Action, ActionContext, Result
from tests.corpus.doubles.common import attempt, digest, slug

FLAVORS = {
    "m1.small": {"vcpus": 1, "ram": 2048, "disk": 20},
    "m1.medium": {"vcpus": 2, "ram": 4096, "disk": 40},
    "m1.large": {"vcpus": 4, "ram": 8192, "disk": 80},
    "c5.xlarge": {"vcpus": 8, "ram": 16384, "disk": 100},
}

IMAGES = [
    {"id": "img-ubuntu-2204", "name": "ubuntu-22.04", "os": "ubuntu", "version": "22.04", "status": "active"},
    {"id": "img-ubuntu-2404", "name": "ubuntu-24.04", "os": "ubuntu", "version": "24.04", "status": "active"},
    {"id": "img-rocky-9", "name": "rocky-9", "os": "rocky", "version": "9", "status": "active"},
    {"id": "img-rocky-8", "name": "rocky-8", "os": "rocky", "version": "8", "status": "deprecated"},
]

NODES = [
    {"uuid": "node-r1-01", "name": "r1-01", "maintenance": False, "provision_state": "manageable",
     "resource_class": "baremetal.gpu", "rack": "r1", "power_state": "power off"},
    {"uuid": "node-r1-02", "name": "r1-02", "maintenance": True, "provision_state": "manageable",
     "resource_class": "baremetal.gpu", "rack": "r1", "power_state": "power off",
     "maintenance_reason": "failed DIMM"},
    {"uuid": "node-r1-03", "name": "r1-03", "maintenance": False, "provision_state": "available",
     "resource_class": "baremetal.general", "rack": "r1", "power_state": "power off"},
    {"uuid": "node-r2-01", "name": "r2-01", "maintenance": False, "provision_state": "enroll",
     "resource_class": "baremetal.general", "rack": "r2", "power_state": "power off"},
    {"uuid": "node-r2-02", "name": "r2-02", "maintenance": False, "provision_state": "manageable",
     "resource_class": "baremetal.general", "rack": "r2", "power_state": "power off"},
    {"uuid": "node-r2-03", "name": "r2-03", "maintenance": True, "provision_state": "active",
     "resource_class": "baremetal.general", "rack": "r2", "power_state": "power on",
     "maintenance_reason": "BMC unreachable"},
]

#: Servers per hypervisor (for evacuation and migration workbooks).
HYPERVISORS = {
    "cmp-01": ["web-01", "web-02", "db-01"],
    "cmp-02": ["web-03", "cache-01"],
    "cmp-03": [],
    "cmp-04": ["batch-01", "batch-02", "batch-03", "pinned-01"],
}


def _server(name: str, **extra: Any) -> dict[str, Any]:
    return {"id": f"srv-{slug(name)}", "name": name, **extra}


def _ip(seed: str, cidr: str = "10.20.0.0/16") -> str:
    net = ipaddress.ip_network(cidr)
    return str(net.network_address + 10 + int(digest(seed, size=4), 16) % 200)


class ServersCreate(Action):
    """Boot a server (nova.servers_create)."""

    def __init__(self, name: str, flavor: str, image: str, nics: list[dict[str, Any]] | None = None,
                 key_name: str | None = None, availability_zone: str | None = None,
                 metadata: dict[str, Any] | None = None, userdata: str | None = None) -> None:
        self.name, self.flavor, self.image, self.nics = name, flavor, image, nics or []
        self.key_name, self.zone, self.metadata = key_name, availability_zone, metadata or {}

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.flavor not in FLAVORS:
            raise ValueError(f"Flavor {self.flavor} could not be found. (HTTP 404)")
        if not any(i["id"] == self.image for i in IMAGES):
            raise ValueError(f"Image {self.image} could not be found. (HTTP 404)")
        return _server(self.name, status="BUILD", flavor=self.flavor, image=self.image,
                       key_name=self.key_name, availability_zone=self.zone or "nova",
                       metadata=self.metadata, networks=[n.get("net-id") for n in self.nics])


class ServersGet(Action):
    """Show a server (nova.servers_get); ``-slow`` servers report BUILD twice before ACTIVE."""

    def __init__(self, server: str) -> None:
        self.server = server

    def run(self, context: ActionContext) -> dict[str, Any]:
        name = self.server.removeprefix("srv-")
        status = "ACTIVE"
        if "slow" in name and attempt(context, "servers_get") < 3:
            status = "BUILD"
        if "broken" in name:
            status = "ERROR"
        return {"id": self.server, "name": name, "status": status,
                "addresses": {"private": [{"addr": _ip(name), "version": 4}]}}


class ServersDelete(Action):
    """Delete a server (nova.servers_delete)."""

    def __init__(self, server: str, force: bool = False) -> None:
        self.server, self.force = server, force

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"deleted": self.server, "force": self.force}


class ServersList(Action):
    """Servers of a hypervisor (nova.servers_list)."""

    def __init__(self, host: str | None = None, all_tenants: bool = False) -> None:
        self.host, self.all_tenants = host, all_tenants

    def run(self, context: ActionContext) -> list[dict[str, Any]]:
        hosts = [self.host] if self.host else sorted(HYPERVISORS)
        return [_server(n, host=h, status="ACTIVE", pinned=n.startswith("pinned"))
                for h in hosts for n in HYPERVISORS.get(h, [])]


class ServersLiveMigrate(Action):
    """Live-migrate a server (nova.servers_live_migrate); pinned servers refuse."""

    def __init__(self, server: str, host: str | None = None, block_migration: str | bool = "auto") -> None:
        self.server, self.host, self.block_migration = server, host, block_migration

    def run(self, context: ActionContext) -> Any:
        if "pinned" in self.server:
            return Result(error={"server": self.server, "reason": "CPU pinning prevents live migration"})
        return {"server": self.server, "target": self.host or "scheduler-chosen", "status": "MIGRATING"}


class ServicesDisable(Action):
    """Disable the compute service of a host (nova.services_disable)."""

    def __init__(self, host: str, binary: str = "nova-compute", reason: str | None = None) -> None:
        self.host, self.binary, self.reason = host, binary, reason

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.host not in HYPERVISORS:
            raise ValueError(f"Compute host {self.host} could not be found.")
        return {"host": self.host, "binary": self.binary, "status": "disabled", "disabled_reason": self.reason}


class FlavorsList(Action):
    """Flavors (nova.flavors_list)."""

    def run(self, context: ActionContext) -> list[dict[str, Any]]:
        return [{"name": n, **spec} for n, spec in FLAVORS.items()]


class ImagesList(Action):
    """Images (glance.images_list)."""

    def __init__(self, visibility: str = "public") -> None:
        self.visibility = visibility

    def run(self, context: ActionContext) -> list[dict[str, Any]]:
        return [dict(i) for i in IMAGES]


class NetworkCreate(Action):
    """Create a network (neutron.create_network)."""

    def __init__(self, name: str, mtu: int = 1500, shared: bool = False, segment_id: int | None = None) -> None:
        self.name, self.mtu, self.shared, self.segment = name, mtu, shared, segment_id

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.segment is not None and not 1 <= self.segment <= 4094:
            raise ValueError(f"Invalid segmentation id {self.segment}")
        return {"id": f"net-{slug(self.name)}", "name": self.name, "mtu": self.mtu, "shared": self.shared,
                "segmentation_id": self.segment, "status": "ACTIVE"}


class SubnetCreate(Action):
    """Create a subnet (neutron.create_subnet); overlapping CIDRs of a network are refused."""

    def __init__(self, network_id: str, cidr: str, name: str | None = None, gateway_ip: str | None = None,
                 enable_dhcp: bool = True, dns_nameservers: list[str] | None = None) -> None:
        self.network_id, self.cidr, self.name = network_id, cidr, name
        self.gateway, self.dhcp, self.dns = gateway_ip, enable_dhcp, dns_nameservers or []

    def run(self, context: ActionContext) -> dict[str, Any]:
        try:
            net = ipaddress.ip_network(self.cidr)
        except ValueError as exc:
            raise ValueError(f"Invalid input for cidr: {exc}") from None
        gateway = self.gateway or str(net.network_address + 1)
        return {"id": f"sub-{digest(self.network_id, self.cidr)}", "network_id": self.network_id,
                "cidr": str(net), "gateway_ip": gateway, "enable_dhcp": self.dhcp,
                "dns_nameservers": self.dns, "name": self.name or f"{self.network_id}-{net.network_address}",
                "size": net.num_addresses}


class RouterCreate(Action):
    """Create a router (neutron.create_router)."""

    def __init__(self, name: str, external_network: str | None = None, ha: bool = False) -> None:
        self.name, self.external, self.ha = name, external_network, ha

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"id": f"rtr-{slug(self.name)}", "name": self.name, "external_gateway": self.external,
                "ha": self.ha}


class RouterAddInterface(Action):
    """Attach a subnet to a router (neutron.add_interface_router)."""

    def __init__(self, router: str, subnet_id: str) -> None:
        self.router, self.subnet = router, subnet_id

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"router": self.router, "subnet_id": self.subnet, "port_id": f"port-{digest(self.router, self.subnet)}"}


class SecurityGroupCreate(Action):
    """Create a security group with rules (neutron.create_security_group)."""

    def __init__(self, name: str, rules: list[dict[str, Any]] | None = None, description: str = "") -> None:
        self.name, self.rules, self.description = name, rules or [], description

    def run(self, context: ActionContext) -> dict[str, Any]:
        for rule in self.rules:
            if rule.get("port", 0) > 65535:
                raise ValueError(f"Invalid port {rule['port']} in security group rule")
        return {"id": f"sg-{slug(self.name)}", "name": self.name, "rule_count": len(self.rules)}


class NodeList(Action):
    """Bare metal nodes (ironic.node_list); every filter left out means no filtering."""

    def __init__(self, maintenance: bool | None = None, provision_state: str | None = None,
                 resource_class: str | None = None, detail: bool = False) -> None:
        self.maintenance, self.state, self.rc, self.detail = maintenance, provision_state, resource_class, detail

    def run(self, context: ActionContext) -> list[dict[str, Any]]:
        found = [n for n in NODES
                 if (self.maintenance is None or n["maintenance"] == self.maintenance)
                 and (self.state is None or n["provision_state"] == self.state)
                 and (self.rc is None or n["resource_class"] == self.rc)]
        if self.detail:
            return [dict(n) for n in found]
        return [{"uuid": n["uuid"], "name": n["name"], "provision_state": n["provision_state"],
                 "maintenance": n["maintenance"]} for n in found]


class NodeSetProvisionState(Action):
    """Move a node through the provisioning state machine (ironic.node_set_provision_state)."""

    MOVES = {"manage": ("enroll", "manageable"), "inspect": ("manageable", "manageable"),
             "provide": ("manageable", "available"), "deploy": ("available", "active"),
             "undeploy": ("active", "available"), "clean": ("manageable", "manageable")}

    def __init__(self, node_uuid: str, state: str, configdrive: Any = None,
                 cleansteps: list[Any] | None = None) -> None:
        self.node, self.target, self.configdrive, self.cleansteps = node_uuid, state, configdrive, cleansteps

    def run(self, context: ActionContext) -> dict[str, Any]:
        node = next((n for n in NODES if n["uuid"] == self.node), None)
        if node is None:
            raise ValueError(f"Node {self.node} could not be found. (HTTP 404)")
        if self.target not in self.MOVES:
            raise ValueError(f"The requested action \"{self.target}\" is not acceptable")
        source, dest = self.MOVES[self.target]
        return {"uuid": self.node, "action": self.target, "from": source, "provision_state": dest,
                "configdrive": self.configdrive is not None, "clean_steps": len(self.cleansteps or [])}


class NodeSetMaintenance(Action):
    """Set or clear maintenance on a node (ironic.node_set_maintenance)."""

    def __init__(self, node_id: str, state: bool, maint_reason: str | None = None) -> None:
        self.node, self.state, self.reason = node_id, state, maint_reason

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"uuid": self.node, "maintenance": self.state, "maintenance_reason": self.reason}


class NodeValidate(Action):
    """Validate a node's interfaces (ironic.node_validate); GPU nodes in rack r1 lack a BIOS interface."""

    def __init__(self, node_uuid: str) -> None:
        self.node = node_uuid

    def run(self, context: ActionContext) -> dict[str, Any]:
        ok = {"power": {"result": True}, "deploy": {"result": True}, "management": {"result": True}}
        if self.node == "node-r1-01":
            ok["bios"] = {"result": False, "reason": "bios interface not configured"}
        return ok


class VolumeCreate(Action):
    """Create a volume (cinder.volumes_create)."""

    def __init__(self, size: int, name: str, volume_type: str = "standard", snapshot_id: str | None = None) -> None:
        self.size, self.name, self.type, self.snapshot = size, name, volume_type, snapshot_id

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.size > 2048:
            raise ValueError(f"VolumeSizeExceedsAvailableQuota: Requested volume size {self.size}G is "
                             "larger than the maximum allowed 2048G")
        return {"id": f"vol-{slug(self.name)}", "size": self.size, "volume_type": self.type,
                "status": "available", "snapshot_id": self.snapshot}


class RecordUpsert(Action):
    """Create or update a DNS record (acme.dns_record_upsert)."""

    def __init__(self, zone: str, name: str, type: str, value: Any, ttl: int = 300) -> None:  # noqa: A002
        self.zone, self.name, self.type, self.value, self.ttl = zone, name, type, value, ttl

    def run(self, context: ActionContext) -> dict[str, Any]:
        if not self.zone.endswith("."):
            raise ValueError(f"zone {self.zone!r} must be fully qualified (end with '.')")
        fqdn = f"{self.name}.{self.zone}" if not self.name.endswith(".") else self.name
        return {"fqdn": fqdn, "type": self.type, "value": self.value, "ttl": self.ttl,
                "change_id": f"chg-{digest(fqdn, self.type, self.value)}"}


class RecordLookup(Action):
    """Resolve a name against the authoritative servers (acme.dns_lookup)."""

    def __init__(self, fqdn: str, type: str = "A", expect: Any = None) -> None:  # noqa: A002
        self.fqdn, self.type, self.expect = fqdn, type, expect

    def run(self, context: ActionContext) -> dict[str, Any]:
        # Propagation takes one extra look for names under "slow." zones.
        propagated = not (".slow." in self.fqdn and attempt(context, "dns_lookup") < 2)
        answer = self.expect if propagated else None
        return {"fqdn": self.fqdn, "type": self.type, "answer": answer, "propagated": propagated}


class PoolMember(Action):
    """Add a member to, or drain it from, a load balancer pool (acme.lb_pool_member)."""

    def __init__(self, pool: str, member: str, operation: str = "add", port: int = 443, weight: int = 1) -> None:
        self.pool, self.member, self.op, self.port, self.weight = pool, member, operation, port, weight

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.op not in ("add", "drain", "remove"):
            raise ValueError(f"unknown pool operation {self.op!r}")
        return {"pool": self.pool, "member": f"{self.member}:{self.port}", "operation": self.op,
                "weight": 0 if self.op == "drain" else self.weight}


ACTIONS: dict[str, type[Action]] = {
    "nova.servers_create": ServersCreate,
    "nova.servers_get": ServersGet,
    "nova.servers_delete": ServersDelete,
    "nova.servers_list": ServersList,
    "nova.servers_live_migrate": ServersLiveMigrate,
    "nova.services_disable": ServicesDisable,
    "nova.flavors_list": FlavorsList,
    "glance.images_list": ImagesList,
    "neutron.create_network": NetworkCreate,
    "neutron.create_subnet": SubnetCreate,
    "neutron.create_router": RouterCreate,
    "neutron.add_interface_router": RouterAddInterface,
    "neutron.create_security_group": SecurityGroupCreate,
    "ironic.node_list": NodeList,
    "ironic.node_set_provision_state": NodeSetProvisionState,
    "ironic.node_set_maintenance": NodeSetMaintenance,
    "ironic.node_validate": NodeValidate,
    "cinder.volumes_create": VolumeCreate,
    "acme.dns_record_upsert": RecordUpsert,
    "acme.dns_lookup": RecordLookup,
    "acme.lb_pool_member": PoolMember,
}
