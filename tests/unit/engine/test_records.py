"""Ids of new records: random UUID4 text, as ``str(uuid.uuid4())`` writes it."""

from __future__ import annotations

import uuid

from levante.engine.records import new_id


def test_new_ids_are_uuid4_text_with_every_random_bit_used() -> None:
    ids = [new_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids]
    assert all(str(u) == i and u.version == 4 and u.variant == uuid.RFC_4122 for u, i in zip(parsed, ids, strict=True))
    ones, zeros = 0, 0
    for u in parsed:
        ones |= u.int
        zeros |= ~u.int & ((1 << 128) - 1)
    fixed = (0xF000 << 64) | (0xC000 << 48)  # the version and variant bits
    assert ones & ~fixed == zeros & ~fixed == ((1 << 128) - 1) & ~fixed  # every other bit is seen as 0 and as 1
