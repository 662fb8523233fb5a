"""Data doubles: extraction, loading, quality checks, database dumps, object storage and snapshots."""

from __future__ import annotations

from typing import Any

from levante.actions.base import Action, ActionContext, Result
from tests.corpus.doubles.common import digest

#: Rows per (source, partition); the ``crm`` source has a bad partition.
SOURCES = {
    "orders": {"2026-01-01": 1200, "2026-01-02": 1350, "2026-01-03": 980},
    "payments": {"2026-01-01": 1190, "2026-01-02": 1340, "2026-01-03": 975},
    "crm": {"2026-01-01": 40, "2026-01-02": 0, "2026-01-03": 52},
    "clickstream": {"2026-01-01": 98000, "2026-01-02": 101500, "2026-01-03": 87000},
}

#: Snapshots per target: (name, age in days, size in GiB).
SNAPSHOTS = {
    "pg-main": [("daily-01", 1, 40), ("daily-02", 2, 40), ("daily-03", 3, 39), ("daily-08", 8, 38),
                ("daily-15", 15, 37), ("weekly-22", 22, 36), ("weekly-29", 29, 35), ("monthly-95", 95, 30)],
    "files": [("daily-01", 1, 400), ("daily-40", 40, 380)],
    "empty": [],
}


class Extract(Action):
    """Extract a partition (data.extract); the crm partition of 2026-01-02 is empty and flagged."""

    def __init__(self, source: str, partition: str, columns: list[str] | None = None, limit: int | None = None) -> None:
        self.source, self.partition, self.columns, self.limit = source, partition, columns, limit

    def run(self, context: ActionContext) -> Any:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}")
        rows = SOURCES[self.source].get(self.partition)
        if rows is None:
            return Result(error={"source": self.source, "partition": self.partition, "error": "partition not found"})
        if self.limit is not None:
            rows = min(rows, self.limit)
        return {"source": self.source, "partition": self.partition, "rows": rows,
                "uri": f"s3://lake/raw/{self.source}/{self.partition}.parquet",
                "checksum": digest(self.source, self.partition, rows)}


class Transform(Action):
    """Run a transformation job (data.transform): the output keeps ``keep_ratio`` of the rows."""

    def __init__(self, inputs: list[str], job: str, keep_ratio: float = 1.0,
                 params: dict[str, Any] | None = None) -> None:
        self.inputs, self.job, self.ratio, self.params = inputs, job, keep_ratio, params or {}

    def run(self, context: ActionContext) -> dict[str, Any]:
        if not self.inputs:
            raise ValueError(f"job {self.job}: no inputs")
        return {"job": self.job, "inputs": len(self.inputs),
                "output": f"s3://lake/curated/{self.job}/{digest(*self.inputs)}.parquet", "ratio": self.ratio}


class Load(Action):
    """Load rows into a warehouse table (data.load)."""

    def __init__(self, table: str, uri: str, rows: int, mode: str = "append") -> None:
        self.table, self.uri, self.rows, self.mode = table, uri, rows, mode

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.mode not in ("append", "overwrite", "merge"):
            raise ValueError(f"unknown load mode {self.mode!r}")
        return {"table": self.table, "rows_loaded": self.rows, "mode": self.mode}


class QualityCheck(Action):
    """Data quality checks on a dataset (data.quality_check): ``min_rows`` and ``max_null_ratio``."""

    def __init__(self, dataset: str, rows: int, min_rows: int = 1, max_null_ratio: float = 0.05) -> None:
        self.dataset, self.rows, self.min_rows, self.max_null = dataset, rows, min_rows, max_null_ratio

    def run(self, context: ActionContext) -> dict[str, Any]:
        null_ratio = (int(digest(self.dataset, size=2), 16) % 10) / 100
        failures = []
        if self.rows < self.min_rows:
            failures.append(f"row count {self.rows} < {self.min_rows}")
        if null_ratio > self.max_null:
            failures.append(f"null ratio {null_ratio} > {self.max_null}")
        return {"dataset": self.dataset, "passed": not failures, "failures": failures, "null_ratio": null_ratio}


class Dump(Action):
    """Dump a database (db.dump)."""

    def __init__(self, database: str, host: str, format: str = "custom", compress: int = 6) -> None:  # noqa: A002
        self.database, self.host, self.format, self.compress = database, host, format, compress

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.host.endswith("-replica-down"):
            raise ConnectionError(f"could not connect to server: {self.host}:5432")
        return {"database": self.database, "file": f"/backups/{self.database}-{digest(self.host, self.database)}.dump",
                "size_mb": 100 + len(self.database) * 7, "format": self.format}


class ReplicationLag(Action):
    """Replication lag of a replica in seconds (db.replication_lag)."""

    def __init__(self, host: str) -> None:
        self.host = host

    def run(self, context: ActionContext) -> dict[str, Any]:
        lag = 45 if "lagging" in self.host else int(digest(self.host, size=1), 16) % 4
        return {"host": self.host, "lag_seconds": lag}


class Upload(Action):
    """Upload a file to object storage (storage.upload)."""

    def __init__(self, bucket: str, key: str, source: str, storage_class: str = "STANDARD") -> None:
        self.bucket, self.key, self.source, self.storage_class = bucket, key, source, storage_class

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"url": f"s3://{self.bucket}/{self.key}", "etag": digest(self.source, size=12),
                "storage_class": self.storage_class}


class ObjectList(Action):
    """Objects under a prefix (storage.list) with ages in days."""

    def __init__(self, bucket: str, prefix: str = "") -> None:
        self.bucket, self.prefix = bucket, prefix

    def run(self, context: ActionContext) -> list[dict[str, Any]]:
        ages = [1, 5, 12, 31, 45, 90, 200, 400]
        return [{"key": f"{self.prefix}obj-{age:03d}.log.gz", "age_days": age, "size": age * 1024,
                 "storage_class": "GLACIER" if age > 180 else "STANDARD"} for age in ages]


class ObjectTransition(Action):
    """Move or delete an object (storage.transition)."""

    def __init__(self, bucket: str, key: str, target: str) -> None:
        self.bucket, self.key, self.target = bucket, key, target

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.target not in ("GLACIER", "DEEP_ARCHIVE", "DELETE"):
            raise ValueError(f"unknown storage target {self.target!r}")
        return {"key": self.key, "target": self.target}


class SnapshotCreate(Action):
    """Snapshot a backup target (backup.snapshot_create)."""

    def __init__(self, target: str, label: str, consistent: bool = True) -> None:
        self.target, self.label, self.consistent = target, label, consistent

    def run(self, context: ActionContext) -> dict[str, Any]:
        if self.target not in SNAPSHOTS:
            raise ValueError(f"unknown backup target {self.target!r}")
        return {"id": f"snap-{self.target}-{self.label}", "target": self.target, "label": self.label,
                "consistent": self.consistent, "size_gb": 41 if self.target == "pg-main" else 401}


class SnapshotList(Action):
    """Snapshots of a target (backup.snapshot_list)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def run(self, context: ActionContext) -> list[dict[str, Any]]:
        return [{"id": f"snap-{self.target}-{name}", "label": name, "age_days": age, "size_gb": size}
                for name, age, size in SNAPSHOTS.get(self.target, [])]


class SnapshotDelete(Action):
    """Delete a snapshot (backup.snapshot_delete); monthly snapshots are locked."""

    def __init__(self, snapshot_id: str) -> None:
        self.snapshot_id = snapshot_id

    def run(self, context: ActionContext) -> Any:
        if "monthly" in self.snapshot_id:
            return Result(error={"snapshot": self.snapshot_id, "error": "snapshot is under legal hold"})
        return {"deleted": self.snapshot_id}


class SnapshotVerify(Action):
    """Restore-test a snapshot into a scratch instance (backup.snapshot_verify)."""

    def __init__(self, snapshot_id: str, checks: list[str] | None = None) -> None:
        self.snapshot_id, self.checks = snapshot_id, checks or ["checksum"]

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {"snapshot": self.snapshot_id, "checks": {c: "ok" for c in self.checks}, "verified": True}


ACTIONS: dict[str, type[Action]] = {
    "data.extract": Extract,
    "data.transform": Transform,
    "data.load": Load,
    "data.quality_check": QualityCheck,
    "db.dump": Dump,
    "db.replication_lag": ReplicationLag,
    "storage.upload": Upload,
    "storage.list": ObjectList,
    "storage.transition": ObjectTransition,
    "backup.snapshot_create": SnapshotCreate,
    "backup.snapshot_list": SnapshotList,
    "backup.snapshot_delete": SnapshotDelete,
    "backup.snapshot_verify": SnapshotVerify,
}
