"""Every definition of the shared conformance cases validates, as the kind it is uploaded as."""

import json
import os
import pathlib

import pytest

from levante.workflows import inspect

CASES = pathlib.Path(__file__).resolve().parents[4] / "shared" / "conformance" / "cases"
RESOURCE_KIND = {"workflows": "workflows", "workbooks": "workbook", "actions": "actions"}


def _uploads():
    for case_file in sorted(CASES.glob("*.case.json")):
        case = json.loads(case_file.read_text())
        uploads = case["upload"]
        if isinstance(uploads, str):
            uploads = [{"resource": uploads}]
        for upload in uploads:
            name = upload.get("file", case["definition"])
            yield pytest.param(CASES / name, RESOURCE_KIND[upload["resource"]], id=name)


UPLOADS = list(_uploads())


@pytest.mark.skipif(not CASES.is_dir() and not os.environ.get("CI"),
                    reason=f"the shared conformance kit is not beside this checkout ({CASES})")
def test_cases_are_there():
    assert len(UPLOADS) >= 62, f"expected the 62 conformance definitions under {CASES}"


@pytest.mark.parametrize("path, kind", UPLOADS)
def test_definition_is_valid(path, kind):
    document, errors = inspect(path.read_text(), kind)
    assert errors == []
    assert document.workflows or document.actions
