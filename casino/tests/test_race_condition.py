"""The race helpers run the competing call at the promised point."""

from __future__ import annotations

from casino.tests.race_condition import run_after, run_before

calls: list[str] = []


def step(name: str) -> str:
    calls.append(name)
    return name


def test_run_before_runs_the_callback_first_and_keeps_the_result() -> None:
    calls.clear()
    with run_before(f"{__name__}.step", lambda name: calls.append(f"before {name}")) as patched:
        result = step("a")
        step("b")
    assert result == "a"
    assert calls == ["before a", "a", "b"]
    assert patched.call_count == 2


def test_run_after_runs_the_callback_after_every_call_when_not_once() -> None:
    calls.clear()
    with run_after(f"{__name__}.step", lambda name: calls.append(f"after {name}"), once=False):
        step("a")
        step("b")
    assert calls == ["a", "after a", "b", "after b"]
