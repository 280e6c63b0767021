"""The alert rules and the Grafana dashboard are checked like code:

- promtool accepts the rules, and its unit tests (monitoring/tests/casino_test.yml)
  prove the main alerts fire above their thresholds and stay quiet below;
- every rule has a `for:`, a severity and summary/description/runbook;
- every metric a rule or a panel of any dashboard queries is one the code exports
  (django-prometheus, realtime.metrics, games.metrics, events.metrics, Flower), so
  a renamed metric cannot leave an alert or a panel silently watching nothing;
- the rule file is what `manage.py render_alert_rules` renders from its template;
- Grafana's provisioning files sit where docker-compose.yml mounts them and
  point at the compose Prometheus.

promtool comes from Debian's `prometheus` package (scripts/install-system-deps.sh):
missing, the promtool tests skip, and fail in CI.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from django.core.management import CommandError, call_command
from prometheus_client import REGISTRY

from conftest import IN_CI
from realtime.management.commands import render_alert_rules

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
PROMETHEUS_CONF = MONITORING / "prometheus.yml"
RULES = MONITORING / "alerts" / "casino.yml"
RULES_TEMPLATE = MONITORING / "alerts" / "casino.yml.tmpl"
RULES_UNIT_TESTS = MONITORING / "tests" / "casino_test.yml"
GRAFANA = MONITORING / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "casino-overview.json"
GAMES_DASHBOARD = GRAFANA / "dashboards" / "casino-games.json"
LIVE_OPS_DASHBOARD = GRAFANA / "dashboards" / "casino-live-ops.json"
# Every dashboard the provider loads (every *.json next to its provider file).
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
COMPOSE_FILE = ROOT / "docker-compose.yml"

# Alerts the unit tests must show firing above the threshold and quiet below it.
REQUIRED_UNIT_TESTED_ALERTS = {
    "HTTP5xxRatioHigh",
    "OutboxLagHigh",
    "OutboxDeadRows",
    "GameRTPOutOfRange",
    "CrashRTPHigh",
    "CrashRoundsNotSettling",
    "LiveOpsClaimsFailing",
}
SEVERITIES = {"critical", "warning"}
# Series Prometheus makes itself rather than any exporter.
BUILTIN_SERIES = {"up"}


# --- promtool --------------------------------------------------------------------


def promtool() -> str:
    path = shutil.which("promtool") or next(
        (candidate for candidate in ("/usr/bin/promtool",) if Path(candidate).is_file()), None
    )
    if path is None:
        message = "promtool is not installed (scripts/install-system-deps.sh installs Debian's prometheus)"
        if IN_CI:
            pytest.fail(f"CI: {message}")
        pytest.skip(message)
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)


def test_promtool_accepts_the_alert_rules() -> None:
    result = run_promtool("check", "rules", str(RULES))

    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_the_alert_rules_pass() -> None:
    result = run_promtool("test", "rules", str(RULES_UNIT_TESTS))

    assert result.returncode == 0, result.stdout + result.stderr


def test_unit_tests_show_the_main_alerts_firing_and_quiet() -> None:
    unit_tests = yaml.safe_load(RULES_UNIT_TESTS.read_text(encoding="utf-8"))
    fires: set[str] = set()
    quiet: set[str] = set()
    for test in unit_tests["tests"]:
        for case in test.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])

    assert fires >= REQUIRED_UNIT_TESTED_ALERTS, "each must be shown firing"
    assert quiet >= REQUIRED_UNIT_TESTED_ALERTS, "each must be shown quiet (below threshold or before `for`)"
    assert (RULES_UNIT_TESTS.parent / unit_tests["rule_files"][0]).resolve() == RULES


# --- The rules ---------------------------------------------------------------------


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_alert_has_for_severity_and_annotations() -> None:
    alerts = rules()
    assert len(alerts) >= 7

    for rule in alerts:
        name = rule.get("alert")
        assert name, f"only alerting rules here: {rule}"
        assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), f"{name}: needs a `for:`"
        assert rule.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity one of {SEVERITIES}"
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook"):
            assert annotations.get(key, "").strip(), f"{name}: annotation {key} missing"
    assert len({rule["alert"] for rule in alerts}) == len(alerts), "alert names are unique"


def test_prometheus_loads_the_rule_file_and_nothing_else_from_alerts() -> None:
    config = yaml.safe_load(PROMETHEUS_CONF.read_text(encoding="utf-8"))
    loaded = {path.resolve() for pattern in config["rule_files"] for path in PROMETHEUS_CONF.parent.glob(pattern)}

    assert RULES.resolve() in loaded
    for path in loaded:  # the template and the unit tests must not be picked up as rule files
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(document, dict) and set(document) == {"groups"}, f"{path} is not a rule file"


def test_the_purchase_pending_rule_uses_the_threshold_from_the_environment() -> None:
    template = RULES_TEMPLATE.read_text(encoding="utf-8")
    (rule,) = [rule for rule in rules() if rule["alert"] == "PurchasePendingSpike"]

    assert 'shop_orders{status="pending"}) > ${PURCHASE_PENDING_ALERT_THRESHOLD}' in template
    assert rule["expr"].endswith("> 20")  # the committed file uses the default
    assert rule["for"] == "5m"


# --- render_alert_rules ----------------------------------------------------------------


@pytest.fixture
def default_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in render_alert_rules.THRESHOLDS:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("default_thresholds")
def test_committed_rules_are_the_rendered_template() -> None:
    out = io.StringIO()

    call_command("render_alert_rules", "--check", stdout=out)  # raises CommandError with a diff on drift

    assert "up to date" in out.getvalue()


@pytest.mark.usefixtures("default_thresholds")
def test_render_check_fails_when_a_threshold_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTBOX_LAG_ALERT_SECONDS", "45")

    with pytest.raises(CommandError, match="out of date"):
        call_command("render_alert_rules", "--check")


def test_render_substitutes_thresholds_and_leaves_prometheus_templates_alone() -> None:
    values = render_alert_rules.threshold_values(
        {"OUTBOX_LAG_ALERT_SECONDS": "45", "PURCHASE_PENDING_ALERT_THRESHOLD": "50"}
    )
    text = render_alert_rules.render(RULES_TEMPLATE.read_text(encoding="utf-8"), values)

    assert "max(outbox_lag_seconds) > 45\n" in text
    assert 'shop_orders{status="pending"}) > 50\n' in text
    assert "{{ $labels.job }}" in text and "{{ $value | humanizeDuration }}" in text
    assert "${" not in text
    assert not any(line.lstrip().startswith("##") for line in text.splitlines()), "template notes are dropped"
    assert text.startswith("# GENERATED")


@pytest.mark.parametrize("value", ["twenty", "-1", "nan", "inf"])
def test_render_rejects_a_threshold_that_is_not_a_number(value: str) -> None:
    with pytest.raises(CommandError, match="PURCHASE_PENDING_ALERT_THRESHOLD"):
        render_alert_rules.threshold_values({"PURCHASE_PENDING_ALERT_THRESHOLD": value})


def test_render_rejects_an_unknown_placeholder() -> None:
    with pytest.raises(CommandError, match="NO_SUCH_THRESHOLD"):
        render_alert_rules.render("groups: []\n# ${NO_SUCH_THRESHOLD}\n", render_alert_rules.threshold_values({}))


# --- Metric names: every query reads a metric the code exports ---------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_VARIABLE = re.compile(r"\$(?:\{[^}]*\}|\w+)")  # Grafana's $__rate_interval and friends
_IDENTIFIER = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
}  # fmt: skip
_SAMPLE_SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created", "_info", "_gsum", "_gcount")
# Which sample names a family of each type exposes (prometheus_client's naming).
_TYPE_SUFFIXES = {
    "counter": {"_total", "_created"},
    "histogram": {"_bucket", "_sum", "_count", "_created"},
    "summary": {"", "_sum", "_count", "_created"},
    "gaugehistogram": {"_bucket", "_gsum", "_gcount"},
    "info": {"_info"},
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, keywords or labels)."""
    text = _VARIABLE.sub(" ", _STRING.sub('""', expr))
    text = _RANGE.sub("", _MATCHERS.sub("", text))
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue  # a function (or an aggregation written `sum(...)`), or a keyword
        names.add(name)
    return names


def test_metric_names_ignores_functions_keywords_labels_and_variables() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (view, le) (rate(a_seconds_bucket{job="web", le!="+Inf"}[$__rate_interval])))'
        " / on (job) group_left sum without (instance) (b_total offset 5m) > bool 1e3"
        ' or label_replace(c, "dst", "$1", "src", "(.*)") unless absent(d)'
    )

    assert metric_names(expr) == {"a_seconds_bucket", "b_total", "c", "d"}


def exported_families() -> dict[str, str]:
    """Metric family name -> type, for everything the code registers, plus Flower's."""
    import flower.options  # noqa: F401  (defines the tornado options PrometheusMetrics reads)
    from django_prometheus.middleware import Metrics
    from flower.events import get_prometheus_metrics

    Metrics.get_instance()  # the middleware registers these on first use; same singleton
    get_prometheus_metrics()  # Flower's singleton: flower_events_total, flower_task_runtime_seconds, ...
    import events.metrics  # noqa: F401  (counters at import)
    import games.metrics  # noqa: F401  (counters at import; OpenRoundsCollector at app ready)
    import realtime.metrics  # noqa: F401  (counters at import; OutboxCollector at app ready)

    families: dict[str, str] = {}
    # prometheus_client has no public list of collectors; describe() avoids the DB query.
    for collector in list(REGISTRY._collector_to_names):
        describe = getattr(collector, "describe", None)
        for family in describe() if describe else collector.collect():
            families[family.name] = family.type
    return families


def is_exported(name: str, families: dict[str, str]) -> bool:
    if name in BUILTIN_SERIES:
        return True
    candidates = [(name, "")] + [(name[: -len(s)], s) for s in _SAMPLE_SUFFIXES if name.endswith(s)]
    for base, suffix in candidates:
        kind = families.get(base)
        if kind is not None and suffix in _TYPE_SUFFIXES.get(kind, {""}):
            return True
    return False


def dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def dashboard_panels(path: Path = DASHBOARD) -> Iterator[dict[str, Any]]:
    for panel in dashboard(path)["panels"]:
        yield panel
        yield from panel.get("panels", [])


def panel_queries(path: Path) -> Iterator[tuple[str, str]]:
    for panel in dashboard_panels(path):
        for target in panel.get("targets", []):
            yield f"panel {path.stem}/{panel['title']!r}", target.get("expr", "")


def queries() -> Iterator[tuple[str, str]]:
    for rule in rules():
        yield f"rule {rule['alert']}", rule["expr"]
    for path in DASHBOARDS:
        yield from panel_queries(path)


def test_every_queried_metric_is_exported_by_the_code() -> None:
    families = exported_families()
    assert {"outbox_lag_seconds", "kafka_publish_failures", "flower_events"} <= set(families)

    unknown = {
        f"{where}: {name}"
        for where, expr in queries()
        for name in metric_names(expr)
        if not is_exported(name, families)
    }

    assert not unknown, f"not exported by any process: {sorted(unknown)}"
    assert all(metric_names(expr) for _, expr in queries()), "every query selects some metric"


# --- Grafana -----------------------------------------------------------------------


def grafana_mount() -> tuple[PurePosixPath, Path]:
    compose = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    for volume in compose["services"]["grafana"]["volumes"]:
        source, _, target = str(volume).partition(":")
        target = target.split(":")[0]
        if target == "/etc/grafana/provisioning":
            return PurePosixPath(target), (ROOT / source).resolve()
    raise AssertionError("docker-compose.yml does not mount Grafana's provisioning directory")


def test_grafana_provisioning_matches_the_compose_mount() -> None:
    in_container, on_disk = grafana_mount()
    assert on_disk == GRAFANA.resolve()

    (datasource,) = yaml.safe_load((GRAFANA / "datasources" / "prometheus.yml").read_text())["datasources"]
    url = urlsplit(datasource["url"])
    compose = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert url.hostname in compose["services"]
    assert url.hostname == "prometheus" and url.port == 9090
    assert datasource["type"] == "prometheus"

    (provider,) = yaml.safe_load((GRAFANA / "dashboards" / "casino.yml").read_text())["providers"]
    path = PurePosixPath(provider["options"]["path"])
    assert path.is_relative_to(in_container), "the provider reads from the mounted directory"
    for dashboard_file in (DASHBOARD, GAMES_DASHBOARD, LIVE_OPS_DASHBOARD):
        assert (on_disk / path.relative_to(in_container) / dashboard_file.name).is_file()

    for dashboard_file in DASHBOARDS:
        for panel in dashboard_panels(dashboard_file):
            for source in [panel.get("datasource"), *(t.get("datasource") for t in panel.get("targets", []))]:
                assert source == {"type": "prometheus", "uid": datasource["uid"]}, (dashboard_file.name, panel["title"])


def test_dashboards_have_their_own_uid_and_title() -> None:
    boards = [dashboard(path) for path in DASHBOARDS]

    assert {GAMES_DASHBOARD, LIVE_OPS_DASHBOARD, DASHBOARD} <= set(DASHBOARDS)
    assert len({board["uid"] for board in boards}) == len({board["title"] for board in boards}) == len(boards)
    assert all(board["tags"] == ["casino"] and board["editable"] is False for board in boards)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_dashboard_has_only_real_panels(path: Path) -> None:
    panels = list(dashboard_panels(path))
    ids = [panel["id"] for panel in panels]

    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        assert panel["type"] != "row", f"no row placeholders: {panel['title']}"
        assert panel["title"].strip()
        assert panel["targets"] and all(target["expr"].strip() for target in panel["targets"]), panel["title"]
        grid = panel["gridPos"]
        columns, rows = range(grid["x"], grid["x"] + grid["w"]), range(grid["y"], grid["y"] + grid["h"])
        area = {(x, y) for x in columns for y in rows}
        assert grid["x"] + grid["w"] <= 24 and not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area


def test_dashboard_covers_http_pipeline_and_celery() -> None:
    used = {name for _, expr in panel_queries(DASHBOARD) for name in metric_names(expr)}
    expected = {
        "django_http_requests_total_by_view_transport_method_total",
        "django_http_responses_total_by_status_view_method_total",
        "django_http_requests_latency_seconds_by_view_method_bucket",
        "outbox_pending_count",
        "outbox_lag_seconds",
        "outbox_dead_count",
        "kafka_publish_failures_total",
        "clickhouse_ingestion_delay_seconds_bucket",
        "clickhouse_inserted_events_total",
        "flower_events_total",
    }

    assert expected <= used, sorted(expected - used)
    quantiles = {
        match
        for _, expr in queries()
        if "django_http_requests_latency_seconds_by_view_method_bucket" in expr
        for match in re.findall(r"histogram_quantile\((0\.\d+)", expr)
    }
    assert {"0.5", "0.95", "0.99"} <= quantiles


def used_on(path: Path) -> set[str]:
    return {name for _, expr in panel_queries(path) for name in metric_names(expr)}


def test_games_dashboard_covers_rounds_rtp_big_wins_open_rounds_and_gacha() -> None:
    used = used_on(GAMES_DASHBOARD)
    rtp = [expr for where, expr in panel_queries(GAMES_DASHBOARD) if "RTP" in where]

    assert {
        "games_rounds_total",
        "games_bets_total",
        "games_bet_amount_total",
        "games_paid_amount_total",
        "games_big_wins_total",
        "games_open_rounds",
        "games_open_round_overdue_seconds",
        "gacha_pulls_total",
        "gacha_pity_pulls_total",
    } <= used
    # RTP = paid / bet, per game
    assert rtp and all(
        "games_paid_amount_total" in expr and "/ sum by (game) (increase(games_bet_amount_total" in expr for expr in rtp
    )


def test_live_ops_dashboard_covers_progress_claims_unlocks_and_force_claims() -> None:
    assert used_on(LIVE_OPS_DASHBOARD) >= {
        "live_ops_progress_events_total",
        "live_ops_event_joins_total",
        "live_ops_claims_total",
        "live_ops_achievement_unlocks_total",
        "live_ops_force_claims_total",
    }


def test_every_games_and_live_ops_metric_is_on_a_dashboard() -> None:
    families = exported_families()
    ours = {name for name in families if name.startswith(("games_", "gacha_", "live_ops_"))}
    used = used_on(GAMES_DASHBOARD) | used_on(LIVE_OPS_DASHBOARD)

    assert len(ours) >= 12
    unwatched = {name for name in ours if not any(is_exported(used_name, {name: families[name]}) for used_name in used)}
    assert not unwatched, sorted(unwatched)
