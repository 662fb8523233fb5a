"""Settings of the bounds that cannot be turned off."""

from __future__ import annotations

import pytest

from levante.config import load


def test_the_sub_workflow_depth_cannot_be_turned_off() -> None:
    with pytest.raises(ValueError, match="max_subworkflow_depth must be at least 1.*cannot be turned off"):
        load(env={"LEVANTE_MAX_SUBWORKFLOW_DEPTH": "0"})
    with pytest.raises(ValueError, match="at least 1"):
        load(env={}, max_subworkflow_depth=-3)
    assert load(env={"LEVANTE_MAX_SUBWORKFLOW_DEPTH": "1"}).max_subworkflow_depth == 1
