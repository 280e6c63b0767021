"""tools/verify_round.py: the stand-alone verifier reproduces every golden vector with its own
code, accepts honest rounds and reports tampered ones (exit 1), and says when a round cannot be
verified yet (exit 2) -- imported from its path, run as a subprocess, and pointed at an HTTP API."""

from __future__ import annotations

import ast
import copy
import importlib.util
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
VERIFIER_PATH = ROOT / "tools" / "verify_round.py"
GOLDEN = json.loads((Path(__file__).parent / "golden_vectors.json").read_text(encoding="utf-8"))
SEEDS = {vector["server_seed"]: vector["server_seed_hash"] for vector in GOLDEN["seeds"]}
BET = 100


def load_verifier() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_round_under_test", VERIFIER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


verifier = load_verifier()


def floor_times(bet: int, multiplier: str) -> int:
    return (Fraction(Decimal(multiplier)) * bet).__floor__()


# --- Round JSON built from the golden vectors, shaped as GET /api/games/rounds/{id} serves it -


def fairness_block(vector: dict[str, Any]) -> dict[str, Any]:
    return {
        "server_seed_hash": SEEDS[vector["server_seed"]],
        "server_seed": vector["server_seed"],
        "client_seed": vector["client_seed"],
        "nonce": vector["nonce"],
    }


def envelope(round_id: int, game: str, payout: int, vector: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": round_id,
        "game": game,
        "status": "settled",
        "bet_amount": BET,
        "payout": payout,
        "currency": "gold",
        "created_at": "2025-01-01T00:00:00Z",
        "settled_at": "2025-01-01T00:00:00Z",
        "fairness": fairness_block(vector),
    }


def slot_round(index: int) -> dict[str, Any]:
    vector = GOLDEN["slot"]["spins"][index]
    data = envelope(100 + index, "slot", floor_times(BET, vector["multiplier"]), vector)
    data["inputs"] = {"reel_strips": GOLDEN["slot"]["reel_strips"], "paytable": GOLDEN["slot"]["paytable"]}
    data["outcome"] = {key: vector[key] for key in ("stops", "symbols", "multiplier", "is_jackpot")}
    return data


def rps_round(index: int, win_multiplier: str = "1.94") -> dict[str, Any]:
    vector = GOLDEN["rps"][index]
    payout = {"win": floor_times(BET, win_multiplier), "draw": BET, "lose": 0}[vector["result"]]
    data = envelope(200 + index, "rps", payout, vector)
    data["inputs"] = {"choice": vector["choice"], "win_multiplier": win_multiplier}
    data["outcome"] = {"computer_choice": vector["computer_choice"], "result": vector["result"]}
    return data


def crash_round(index: int, *, auto: str | None = "2.00", cashout: str | None = None) -> dict[str, Any]:
    vector = GOLDEN["crash"][index]
    chosen = cashout or auto
    wins = chosen is not None and Decimal(chosen) <= Decimal(vector["crash_point"])
    data = envelope(300 + index, "crash", floor_times(BET, chosen) if wins and chosen else 0, vector)
    data["inputs"] = {"auto_cashout_multiplier": auto, "cashout_multiplier": cashout}
    data["outcome"] = {"crash_point": vector["crash_point"]}
    return data


def gacha_round(index: int) -> dict[str, Any]:
    vector = GOLDEN["gacha"]["batches"][index]
    data = envelope(400 + index, "gacha", 0, vector)
    data["inputs"] = {
        "banner": "golden",
        "pull_count": vector["pull_count"],
        "pity_threshold": vector["pity_threshold"],
        "pity_before": vector["pity_before"],
        "rarities": GOLDEN["gacha"]["rarities"],
    }
    data["outcome"] = {"pulls": vector["pulls"], "pity_after": vector["pity_after"]}
    return data


def every_golden_round() -> list[dict[str, Any]]:
    return [
        *(slot_round(i) for i in range(len(GOLDEN["slot"]["spins"]))),
        *(rps_round(i) for i in range(len(GOLDEN["rps"]))),
        *(crash_round(i) for i in range(len(GOLDEN["crash"]))),
        *(gacha_round(i) for i in range(len(GOLDEN["gacha"]["batches"]))),
    ]


# --- The verifier is independent --------------------------------------------------------------


def test_the_verifier_imports_only_the_standard_library() -> None:
    # Given the verifier's source
    tree = ast.parse(VERIFIER_PATH.read_text(encoding="utf-8"))
    # When its imports are listed
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    # Then every one is a standard-library module (no games/, no Django)
    assert imported - {"__future__"} <= set(sys.stdlib_module_names)


# --- It reproduces every golden vector with its own code ---------------------------------------


@pytest.mark.parametrize("vector", GOLDEN["outcome_bytes"])
def test_verifier_reproduces_the_golden_outcome_bytes(vector: dict[str, Any]) -> None:
    block = verifier.outcome_block(vector["server_seed"], vector["client_seed"], vector["nonce"], vector["cursor"])
    assert block.hex() == vector["hex"]


@pytest.mark.parametrize("vector", GOLDEN["fair_floats"])
def test_verifier_reproduces_the_golden_floats(vector: dict[str, Any]) -> None:
    seeds = (vector["server_seed"], vector["client_seed"], vector["nonce"], vector["count"])
    assert verifier.uniform_ints(*seeds) == vector["uint32"]
    assert verifier.uniform_floats(*seeds) == vector["floats"]


@pytest.mark.parametrize("vector", GOLDEN["crash"])
def test_verifier_reproduces_the_golden_crash_points(vector: dict[str, Any]) -> None:
    point = verifier.crash_hundredths(vector["server_seed"], vector["client_seed"], vector["nonce"])
    assert point == vector["crash_point_hundredths"]


@pytest.mark.parametrize("vector", GOLDEN["rps"])
def test_verifier_reproduces_the_golden_rps_moves(vector: dict[str, Any]) -> None:
    move = verifier.computer_move(vector["server_seed"], vector["client_seed"], vector["nonce"])
    assert move == vector["computer_choice"]
    assert verifier.rps_outcome_for(vector["choice"], move) == vector["result"]


@pytest.mark.parametrize("vector", GOLDEN["slot"]["spins"])
def test_verifier_reproduces_the_golden_slot_spins(vector: dict[str, Any]) -> None:
    spin = verifier.spin_reels(
        vector["server_seed"],
        vector["client_seed"],
        vector["nonce"],
        GOLDEN["slot"]["reel_strips"],
        GOLDEN["slot"]["paytable"],
    )
    assert spin == {
        "stops": vector["stops"],
        "symbols": vector["symbols"],
        "multiplier": Decimal(vector["multiplier"]),
        "is_jackpot": vector["is_jackpot"],
    }


@pytest.mark.parametrize("index", range(len(GOLDEN["gacha"]["batches"])))
def test_verifier_reproduces_the_golden_gacha_batches(index: int) -> None:
    vector = GOLDEN["gacha"]["batches"][index]
    drawn = verifier.draw_gacha(
        vector["server_seed"], vector["client_seed"], vector["nonce"], gacha_round(index)["inputs"]
    )
    assert drawn == {"pulls": vector["pulls"], "pity_after": vector["pity_after"]}


@pytest.mark.parametrize("round_data", every_golden_round(), ids=lambda r: f"{r['game']}-{r['id']}")
def test_verifier_accepts_every_honest_golden_round(round_data: dict[str, Any]) -> None:
    report = verifier.verify_round(round_data)
    assert report.status == verifier.VERIFIED, report.render()


# --- It catches tampering ---------------------------------------------------------------------


def tampered(round_data: dict[str, Any], path: tuple[str, ...], value: object) -> dict[str, Any]:
    changed = copy.deepcopy(round_data)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


TAMPERINGS = [
    ("slot symbols", slot_round(0), ("outcome", "symbols"), ["seven", "seven", "seven"]),
    ("slot multiplier", slot_round(1), ("outcome", "multiplier"), "5"),
    ("slot payout", slot_round(2), ("payout",), 4999),
    ("slot jackpot flag", slot_round(2), ("outcome", "is_jackpot"), False),
    ("slot stops", slot_round(0), ("outcome", "stops"), [0, 0, 0]),
    ("rps computer move", rps_round(0), ("outcome", "computer_choice"), "rock"),
    ("rps result", rps_round(2), ("outcome", "result"), "win"),
    ("rps payout", rps_round(0), ("payout",), 200),
    ("crash point", crash_round(8), ("outcome", "crash_point"), "2.00"),
    ("crash payout of a lost target", crash_round(2), ("payout",), 200),
    ("crash payout of only the profit", crash_round(0), ("payout",), 100),
    ("gacha item", gacha_round(1), ("outcome", "pulls", 4, "item"), "aurora-dragon"),
    ("gacha pity counter", gacha_round(1), ("outcome", "pity_after"), 94),
    ("nonce", slot_round(1), ("fairness", "nonce"), 52),
    ("client seed", crash_round(1), ("fairness", "client_seed"), "player-seed!"),
    ("another revealed seed", crash_round(0), ("fairness", "server_seed"), GOLDEN["seeds"][1]["server_seed"]),
]


@pytest.mark.parametrize(("what", "round_data", "path", "value"), TAMPERINGS, ids=[t[0] for t in TAMPERINGS])
def test_verifier_reports_a_tampered_round_as_a_mismatch(
    what: str, round_data: dict[str, Any], path: tuple[Any, ...], value: object
) -> None:
    # Given an honest round that verifies
    assert verifier.verify_round(round_data).status == verifier.VERIFIED
    # When one field is changed
    report = verifier.verify_round(tampered(round_data, path, value))
    # Then the verifier reports a mismatch
    assert report.status == verifier.MISMATCH, report.render()
    assert "[MISMATCH]" in report.render()


def test_a_live_cash_out_above_the_crash_point_must_not_pay() -> None:
    # Given a round that crashed at 1.40 and a recorded live cash-out at 1.53 that was paid
    round_data = crash_round(2, auto=None, cashout="1.53")
    assert round_data["outcome"]["crash_point"] == "1.40"
    paid = tampered(round_data, ("payout",), 153)
    # Then the honest round (payout 0) verifies and the paid one is a mismatch
    assert verifier.verify_round(round_data).status == verifier.VERIFIED
    assert verifier.verify_round(paid).status == verifier.MISMATCH


def test_a_live_cash_out_below_the_crash_point_pays_the_stake_times_the_multiplier() -> None:
    # Given a round that crashed at 13.11 with a live cash-out at 1.53 on a 100 bet
    round_data = crash_round(0, auto=None, cashout="1.53")
    # Then it verifies with a payout of 153 (the stake included)
    assert round_data["payout"] == 153
    assert verifier.verify_round(round_data).status == verifier.VERIFIED


# --- It says when it cannot verify ------------------------------------------------------------


def test_a_round_whose_seed_is_not_revealed_is_not_verifiable_yet() -> None:
    report = verifier.verify_round(tampered(slot_round(0), ("fairness", "server_seed"), None))
    assert report.status == verifier.UNVERIFIABLE
    assert "not revealed yet" in report.render()
    assert "rotate" in report.render()


def test_an_open_crash_round_is_not_verifiable_until_it_is_over() -> None:
    open_round = tampered(crash_round(0, auto=None), ("outcome",), None)
    open_round["status"] = "open"
    assert verifier.verify_round(open_round).status == verifier.UNVERIFIABLE


def test_a_malformed_round_is_reported_not_raised() -> None:
    broken = copy.deepcopy(slot_round(0))
    del broken["inputs"]["paytable"]
    report = verifier.verify_round(broken)
    assert report.status == verifier.UNVERIFIABLE
    assert "expected shape" in report.render()


# --- As a command: files and the HTTP API -----------------------------------------------------


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(VERIFIER_PATH), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_script_verifies_a_file_of_every_golden_round_and_exits_0(tmp_path: Path) -> None:
    # Given a JSON file holding every golden round
    path = tmp_path / "rounds.json"
    path.write_text(json.dumps(every_golden_round()), encoding="utf-8")
    # When the script is run on it
    result = run_script(str(path))
    # Then everything verifies
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(every_golden_round())} verified, 0 mismatched, 0 not verifiable" in result.stdout


def test_the_script_exits_1_on_a_tampered_round(tmp_path: Path) -> None:
    path = tmp_path / "round.json"
    path.write_text(json.dumps(tampered(slot_round(2), ("payout",), 5001)), encoding="utf-8")
    result = run_script(str(path))
    assert result.returncode == 1
    assert "[MISMATCH] payout = floor(bet x multiplier): the round says 5001, recomputed 5000" in result.stdout


def test_the_script_exits_2_when_the_seed_is_not_revealed(tmp_path: Path) -> None:
    path = tmp_path / "round.json"
    path.write_text(json.dumps(tampered(rps_round(0), ("fairness", "server_seed"), None)), encoding="utf-8")
    result = run_script(str(path))
    assert result.returncode == 2
    assert "not revealed yet" in result.stdout


class RoundsHandler(BaseHTTPRequestHandler):
    rounds: dict[str, dict[str, Any]] = {}
    token = "access-token-for-tests"

    def do_GET(self) -> None:
        round_id = self.path.removeprefix("/api/games/rounds/")
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self.send_json(401, {"error": "not_authenticated", "message": "Log in."})
        elif round_id in self.rounds:
            self.send_json(200, self.rounds[round_id])
        else:
            self.send_json(404, {"error": "not_found", "message": "No such round."})

    def send_json(self, status: int, body: object) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def rounds_api() -> Iterator[str]:
    RoundsHandler.rounds = {str(r["id"]): r for r in every_golden_round()}
    server = ThreadingHTTPServer(("127.0.0.1", 0), RoundsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_script_fetches_rounds_by_id_with_the_token_and_verifies_them(
    rounds_api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an API serving golden rounds 100 (slot), 300 (crash) and 401 (gacha with pity)
    # When the verifier is given their ids, the base URL and the token
    status = verifier.main(["--base-url", rounds_api, "--token", RoundsHandler.token, "100", "300", "401"])
    # Then it fetched and verified all three
    output = capsys.readouterr().out
    assert status == 0, output
    assert "3 verified, 0 mismatched, 0 not verifiable" in output
    assert "payout not checked: a gacha pays items" in output


def test_the_script_exits_2_when_the_api_refuses_the_token(rounds_api: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = verifier.main(["--base-url", rounds_api, "--token", "wrong", "100"])
    output = capsys.readouterr().out
    assert status == 2
    assert "401" in output
