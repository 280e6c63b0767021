"""The committed OpenAPI snapshot (openapi.yaml) must match the code."""

from __future__ import annotations

import difflib
import io
from pathlib import Path

from django.core.management import call_command

SNAPSHOT = Path(__file__).resolve().parents[2] / "openapi.yaml"


def test_committed_openapi_snapshot_matches_the_code() -> None:
    generated = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=generated)
    committed = SNAPSHOT.read_text()

    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            generated.getvalue().splitlines(keepends=True),
            fromfile="openapi.yaml (committed)",
            tofile="openapi.yaml (from the code)",
        )
    )
    assert not diff, f"The API changed but openapi.yaml did not: run `make schema` and commit.\n{diff}"


def test_every_api_operation_documents_its_errors() -> None:
    import yaml

    schema = yaml.safe_load(SNAPSHOT.read_text())
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            refused_by_design = codes - {"400", "401"} == {"405"}  # the earlier client's progress reports
            assert refused_by_design or any(code.startswith("2") for code in codes), (
                f"{method.upper()} {path}: no success response"
            )
            if operation.get("security") != [{}] and {"bearerAuth": []} in operation.get("security", []):
                assert "401" in codes, f"{method.upper()} {path}: authenticated but 401 undocumented"
