"""``bench/run.py --against REV``: the in-process CPU table (bench/cpu.py) of
another version of the project, next to today's, in the same run.

* ``REV`` is a git revision (``HEAD``, a sha, a tag) or the path of another
  checkout. A revision is unpacked with ``git archive`` into
  ``var/bench-against/<sha>/`` (kept for the next run; the repository is left
  as it is: no worktree, no checkout, nothing staged).
* It runs with this venv; the report says so when its ``requirements.txt``
  differs from today's.
* Its own database, ``<run database>_against``: created, migrated by that
  checkout's ``manage.py migrate``, dropped at the end of the run.
* The table is measured in a process of its own whose ``sys.path`` starts with
  that checkout, with today's bench package loaded as ``bench_current``
  (``bench.cpu.child_main``): today's settings overrides, bare reference,
  seed and rows, that version's project code. Rows an older version does not
  serve (a 404) show as errors.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import stack
from bench.stack import PYTHON, ROOT, BenchError

CACHE_DIR = ROOT / "var" / "bench-against"


def _git(*args: str) -> str:
    result = subprocess.run(  # noqa: S603
        ["git", *args],  # noqa: S607 - git from PATH, as bench/facts.py
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"git {' '.join(args)}: {result.stderr.strip()[-500:]}")
    return result.stdout.strip()


def materialise(rev: str) -> tuple[Path, str, str]:
    """The checkout to measure, its label and what it is: a directory as given, or
    the revision unpacked (once) under ``var/bench-against/``, described by its
    commit's date and subject (the report prints them under its table)."""
    given = Path(rev).expanduser()
    if given.is_dir():
        if not (given / "manage.py").exists():
            raise BenchError(f"--against {rev}: no manage.py there")
        return given.resolve(), str(given), f"the checkout at {given.resolve()}"
    sha = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    described = _git("show", "--no-patch", "--format=commit %h of %cs: %s", sha)
    target = CACHE_DIR / sha[:12]
    if not (target / "manage.py").exists():
        partial = target.with_name(target.name + ".partial")
        subprocess.run(["rm", "-rf", str(partial)], check=True)  # noqa: S603, S607 - our own scratch directory
        partial.mkdir(parents=True)
        with subprocess.Popen(  # noqa: S603
            ["git", "archive", "--format=tar", sha],  # noqa: S607
            cwd=ROOT,
            stdout=subprocess.PIPE,
        ) as archive:
            unpacked = subprocess.run(  # noqa: S603
                ["tar", "-x", "-C", str(partial)],  # noqa: S607
                stdin=archive.stdout,
                capture_output=True,
                check=False,
                timeout=300,
            )
        if archive.returncode != 0 or unpacked.returncode != 0:
            raise BenchError(f"git archive {sha[:12]} failed: {unpacked.stderr.decode(errors='replace')[-500:]}")
        partial.rename(target)
    return target, f"{rev} ({sha[:12]})" if not sha.startswith(rev) else sha[:12], described


def measure(
    *,
    rev: str,
    env: dict[str, str],
    pg_url: str,
    database: str,
    sizes: dict[str, int],
    log_dir: Path,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """The table of ``rev``; ``{"rev", "label", "described", "rows", "config", "notes"}`` or, when
    it could not be measured, ``{"rev", "label", "error"}`` (the run goes on)."""
    out: dict[str, Any] = {"rev": rev, "label": rev, "notes": []}
    try:
        root, out["label"], out["described"] = materialise(rev)
    except BenchError as exc:
        return {**out, "error": str(exc)}
    say(f"against {out['label']}: {root}")
    ours, theirs = ROOT / "requirements.txt", root / "requirements.txt"
    if theirs.exists() and theirs.read_text() != ours.read_text():
        out["notes"].append(
            f"{out['label']} pins other packages than today's requirements.txt; it ran with today's venv."
        )
    child_env = {
        **env,
        "DATABASE_URL": stack.with_database(pg_url, database),
        "CACHE_KEY_PREFIX": env.get("CACHE_KEY_PREFIX", "bench") + "-against",
        "CHANNEL_PREFIX": env.get("CHANNEL_PREFIX", "bench-asgi") + "-against",
        "PYTHONPATH": str(root),
        "DJANGO_SETTINGS_MODULE": "casino.settings",
    }
    stack.pg_create_database(pg_url, database)
    migrate = subprocess.run(  # noqa: S603
        [PYTHON, "manage.py", "migrate", "--noinput"],
        cwd=root,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    (log_dir / "against-migrate.log").write_text(migrate.stdout + migrate.stderr)
    if migrate.returncode != 0:
        return {**out, "error": f"migrate failed: {migrate.stderr[-1500:]}"}
    config_path = log_dir / "against-config.json"
    result_path = log_dir / "against-result.json"
    config_path.write_text(
        json.dumps({"app_root": str(root), "out": str(result_path), "log": str(log_dir / "against-app.log"), **sizes})
    )
    with (log_dir / "against.log").open("w") as log:
        child = subprocess.Popen(  # noqa: S603
            [PYTHON, str(ROOT / "bench" / "against_child.py"), str(config_path)],
            cwd=root,
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert child.stdout is not None
        for line in child.stdout:
            log.write(line)
            if line.startswith("cpu-row:"):  # bench/against_child.py's progress lines
                say(f"  [{out['label']}]{line.removeprefix('cpu-row:').rstrip()}")
        child.wait()
    if not result_path.exists():
        return {**out, "error": f"the measuring process wrote nothing (exit {child.returncode}); see logs/against.log"}
    table = json.loads(result_path.read_text())
    if "error" in table:
        return {**out, "error": table["error"]}
    return {**out, **table}
