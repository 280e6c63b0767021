"""The measuring process of ``bench/run.py --against`` (bench/against.py starts it
with the older checkout as its working directory):

    python bench/against_child.py CONFIG.json

Its ``sys.path`` starts with that checkout; today's bench package is loaded as
``bench_current`` on top of it (its settings overrides, URLconf, bare
reference, seed and table), so only the project's code differs from today's
table. Standard library only at import time: ``bench`` here would be the
older checkout's.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path

PROGRESS = "cpu-row:"  # bench/against.py repeats these lines of the output, and only these


def _say(line: str) -> None:
    sys.stdout.write(f"{PROGRESS}{line}\n")
    sys.stdout.flush()


def child_main(config_path: str) -> int:
    """Seeds the older checkout's database (today's bench/seed.py through that
    checkout's services), measures today's rows against its code and writes
    ``{"rows", "config"}``, or ``{"error"}`` when it cannot."""
    config = json.loads(Path(config_path).read_text())
    out = Path(config["out"])
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    sys.path.insert(0, config["app_root"])
    spec = importlib.util.spec_from_file_location(
        "bench_current", here / "__init__.py", submodule_search_locations=[str(here)]
    )
    if spec is None or spec.loader is None:
        out.write_text(json.dumps({"error": f"cannot load {here} as a package"}))
        return 1
    package = importlib.util.module_from_spec(spec)
    sys.modules["bench_current"] = package
    spec.loader.exec_module(package)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench_current.settings"
    try:
        import django

        django.setup()
        seed = importlib.import_module("bench_current.seed")
        cpu = importlib.import_module("bench_current.cpu")
        seed.seed_products()
        seed.seed_demo_content()
        players = seed.seed_players(config["players"], prefix="bq", first_index=500_000)
        cpu.issue_tokens(players)
        table = cpu.measure(
            players,
            gems_sku=seed.GEMS_SKU,
            money_sku=seed.MONEY_SKU,
            warmup=config["warmup"],
            requests=config["requests"],
            count_requests=config["count_requests"],
            say=_say,
            log_path=config.get("log"),
        )
    except Exception:  # noqa: BLE001 - reported by the parent; the run goes on
        out.write_text(json.dumps({"error": traceback.format_exc()[-3000:]}))
        return 1
    out.write_text(json.dumps(table, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1]))
