"""``paperchain audit calc`` and ``paperchain audit sample``, through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from paperchain.cli import main
from paperchain.commands.audit import audit
from tally.risk import (
    DiscrepancyCounts,
    bravo_asn,
    bravo_p_value,
    bravo_sample_size,
    kaplan_markov_p_value,
    kaplan_markov_sample_size,
)
from tally.sampler import AuditSeed, draw_sample

SEED = "31415926535897932384"
MANIFEST_CSV = "Batch Name,Number of Ballots,Container\npct 1,30,box A\npct 2,25,box B\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "manifest.csv"
    path.write_text(MANIFEST_CSV, encoding="utf-8")
    return path


# --- calc --------------------------------------------------------------------------------------


def test_kaplan_markov_p_value_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", "calc", "pvalue", "--method", "kaplan-markov",
                       "--diluted-margin", "0.05", "--gamma", "1.03905", "--n", "200",
                       "--o1", "2", "--o2", "0", "--u1", "0", "--u2", "0", "--json")
    assert code == 0
    expected = kaplan_markov_p_value(diluted_margin=0.05, sample_size=200,
                                     discrepancies=DiscrepancyCounts(o1=2))
    assert json.loads(out) == {"p_value": expected}


def test_kaplan_markov_gamma_defaults_to_stark(capsys: pytest.CaptureFixture[str]) -> None:
    _, with_default, _ = run(capsys, "audit", "calc", "pvalue", "--method", "kaplan-markov",
                             "--diluted-margin", "0.1", "--n", "30", "--json")
    _, with_other, _ = run(capsys, "audit", "calc", "pvalue", "--method", "kaplan-markov",
                           "--diluted-margin", "0.1", "--n", "30", "--gamma", "1.1", "--json")
    assert json.loads(with_default)["p_value"] == kaplan_markov_p_value(
        diluted_margin=0.1, sample_size=30, gamma=1.03905)
    assert json.loads(with_other)["p_value"] != json.loads(with_default)["p_value"]


def test_kaplan_markov_sample_size_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", "calc", "sample-size", "--method", "kaplan-markov",
                       "--risk-limit", "0.1", "--diluted-margin", "0.005", "--gamma", "1.03905",
                       "--o1", "1", "--o2", "0", "--u1", "1", "--u2", "0", "--json")
    assert code == 0
    assert json.loads(out) == {"sample_size": 1067}  # rlacalc's own doctest value


def test_bravo_p_value_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", "calc", "pvalue", "--method", "bravo",
                       "--winner-votes", "2894", "--loser-votes", "1695",
                       "--winner-sampled", "45", "--loser-sampled", "32", "--json")
    assert code == 0
    assert json.loads(out) == {"p_value": bravo_p_value(winner_votes=2894, loser_votes=1695,
                                                        winner_sampled=45, loser_sampled=32)}


def test_bravo_sample_size_is_the_asn_without_a_quantile(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["audit", "calc", "sample-size", "--method", "bravo", "--risk-limit", "0.1",
            "--winner-votes", "55000", "--loser-votes", "45000", "--ballots", "100000", "--json"]
    _, asn, _ = run(capsys, *args)
    _, q90, _ = run(capsys, *args, "--quantile", "0.9")
    kw = {"risk_limit": 0.1, "winner_votes": 55000, "loser_votes": 45000, "ballots": 100000}
    assert json.loads(asn) == {"sample_size": bravo_asn(**kw)} == {"sample_size": 470}
    assert json.loads(q90) == {"sample_size": bravo_sample_size(**kw, quantile=0.9)}
    assert json.loads(q90) == {"sample_size": 1423}


def test_readable_output_is_a_table_with_the_result(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", "calc", "sample-size", "--method", "kaplan-markov",
                       "--risk-limit", "0.1", "--diluted-margin", "0.05")
    assert code == 0
    assert "sample size" in out
    assert str(kaplan_markov_sample_size(risk_limit=0.1, diluted_margin=0.05)) in out
    assert "1.03905" in out  # the gamma used is shown even when defaulted


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pvalue", "--method", "kaplan-markov", "--diluted-margin", "0.05"], "needs --n"),
        (["pvalue", "--method", "kaplan-markov", "--n", "10"], "needs --diluted-margin"),
        (["pvalue", "--method", "bravo", "--winner-votes", "5", "--loser-votes", "3",
          "--winner-sampled", "1"], "needs --loser-sampled"),
        (["sample-size", "--method", "bravo", "--risk-limit", "0.1", "--winner-votes", "5",
          "--loser-votes", "3"], "needs --ballots"),
        (["pvalue", "--method", "kaplan-markov", "--diluted-margin", "0.05", "--n", "10",
          "--winner-votes", "5"], "--winner-votes does not apply"),
        (["pvalue", "--method", "bravo", "--winner-votes", "5", "--loser-votes", "3",
          "--winner-sampled", "1", "--loser-sampled", "1", "--gamma", "1.1"],
         "--gamma does not apply"),
        (["pvalue", "--method", "kaplan-markov", "--diluted-margin", "0.05", "--n", "10",
          "--risk-limit", "0.1"], "--risk-limit does not apply"),
        (["sample-size", "--method", "kaplan-markov", "--risk-limit", "0.1",
          "--diluted-margin", "0.1", "--quantile", "0.9"], "--quantile does not apply"),
        (["pvalue", "--method", "kaplan-markov", "--diluted-margin", "1.5", "--n", "10"],
         "diluted margin must be in"),
        (["sample-size", "--method", "kaplan-markov", "--risk-limit", "5",
          "--diluted-margin", "0.1"], "give a fraction"),
        (["pvalue", "--method", "kaplan-markov", "--diluted-margin", "0.1", "--n", "10",
          "--o1", "-1"], "o1 must not be negative"),
        (["pvalue", "--method", "kaplan-markov", "--diluted-margin", "0.1", "--n", "10",
          "--gamma", "1"], "gamma must be greater than 1"),
        (["pvalue", "--method", "bravo", "--winner-votes", "3", "--loser-votes", "5",
          "--winner-sampled", "1", "--loser-sampled", "1"], "more votes than the loser"),
        (["sample-size", "--method", "bravo", "--risk-limit", "0.1", "--winner-votes", "5",
          "--loser-votes", "3", "--ballots", "10", "--quantile", "1.5"], "quantile"),
    ],
)
def test_bad_calc_input_is_an_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, "audit", "calc", *args)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert message in err


@pytest.mark.parametrize(
    "args",
    [
        ["pvalue", "--diluted-margin", "0.1", "--n", "5"],
        ["pvalue", "--method", "wald", "--n", "5"],
        ["pvalue", "--method", "kaplan-markov", "--diluted-margin", "abc", "--n", "5"],
    ],
)
def test_unparseable_calc_options_are_refused_by_click(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code, out, err = run(capsys, "audit", "calc", *args)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err


# --- the election's audit steps: options refused before the ledger is opened ------------------


@pytest.mark.parametrize(("args", "words"), [
    (["seed", "--seed", SEED, "--rolled-by", "Ann", "--rolled-at", "yesterday"],
     "not an ISO 8601 date"),
    (["round", "--size", "0"], "0 is not in the range x>=1"),
    (["round", "--size", "-3"], "-3 is not in the range x>=1"),
    (["round", "--retrieval-list", "no/such/dir/round-1.csv"], "no directory"),
])
def test_bad_step_options_are_refused_before_the_ledger_changes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], words: str
) -> None:
    # The ledger does not exist: a refusal must come from the option itself, first.
    ledger = tmp_path / "no-ledger"
    (tmp_path / "auditor").mkdir()  # empty: no key to load either
    code, _, err = run(capsys, "audit", args[0], "--ledger", str(ledger), "--auditor",
                         str(tmp_path / "auditor"), *args[1:])
    assert code == 2
    assert words in err
    assert "Traceback" not in err
    assert not ledger.exists()


# --- sample ------------------------------------------------------------------------------------


def test_sample_as_json_lists_tickets_in_draw_order(
    capsys: pytest.CaptureFixture[str], manifest: Path
) -> None:
    code, out, _ = run(capsys, "audit", "sample", "--seed", SEED, "--manifest", str(manifest),
                       "--size", "12", "--with-replacement", "--json")
    assert code == 0
    rows = json.loads(out)
    expected = draw_sample(AuditSeed(SEED), {"pct 1": 30, "pct 2": 25}, 12,
                           with_replacement=True)
    assert rows == [{"ticket_number": t.ticket_number, "batch": t.batch,
                     "position": t.position} for t in expected]
    assert all(isinstance(row["ticket_number"], str) for row in rows)


def test_sample_without_replacement_and_a_second_round(
    capsys: pytest.CaptureFixture[str], manifest: Path
) -> None:
    base = ["audit", "sample", "--seed", SEED, "--manifest", str(manifest), "--json"]
    _, first, _ = run(capsys, *base, "--size", "10")
    _, second, _ = run(capsys, *base, "--size", "5", "--already-drawn", "10")
    _, whole, _ = run(capsys, *base, "--size", "15")
    assert json.loads(first) + json.loads(second) == json.loads(whole)
    cards = {(r["batch"], r["position"]) for r in json.loads(whole)}
    assert len(cards) == 15


def test_sample_table_shows_containers_and_draws(
    capsys: pytest.CaptureFixture[str], manifest: Path
) -> None:
    code, out, _ = run(capsys, "audit", "sample", "--seed", SEED, "--manifest", str(manifest),
                       "--size", "3", "--with-replacement")
    assert code == 0
    first = draw_sample(AuditSeed(SEED), {"pct 1": 30, "pct 2": 25}, 1,
                        with_replacement=True)[0]
    assert first.ticket_number in out
    assert "box A" in out or "box B" in out
    assert "times drawn" in out


def test_a_second_seed_is_refused_not_silently_preferred(
    capsys: pytest.CaptureFixture[str], manifest: Path
) -> None:
    code, out, err = run(capsys, "audit", "sample", "--seed", SEED, "--seed", SEED[::-1],
                         "--manifest", str(manifest), "--size", "3", "--json")
    assert (code, out) == (2, "")
    assert "one seed, not 2" in err


@pytest.mark.parametrize(
    ("seed", "message"),
    [("3141592653589793238", "has 19 digits"), ("", "has 0 digits"),
     ("3141592653589793238x", "decimal digits")],
)
def test_short_or_non_decimal_seed_is_refused(
    capsys: pytest.CaptureFixture[str], manifest: Path, seed: str, message: str
) -> None:
    code, out, err = run(capsys, "audit", "sample", "--seed", seed, "--manifest", str(manifest),
                         "--size", "3", "--json")
    assert (code, out) == (2, "")
    assert err.startswith("error: ")
    assert message in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("Batch,Count\npct 1,3\n", "line 1: unknown column 'Batch'"),
        ("Batch Name,Number of Ballots\npct 1,3\npct 1,4\n", "line 3: batch 'pct 1' already"),
        ("Batch Name,Number of Ballots\npct 1,three\n", "line 2: Number of Ballots"),
        ("Batch Name,Number of Ballots\npct 1,3,9\n", "line 2: expected 2 fields"),
        ("Batch Name,Number of Ballots\n\"pct 1,3\n", "line 2: malformed CSV"),
        ("Batch Name,Number of Ballots\npct 'A',3\n", "line 2: the batch name"),
    ],
)
def test_malformed_manifest_is_refused_with_its_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "audit", "sample", "--seed", SEED, "--manifest", str(path),
                         "--size", "1", "--json")
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {path}")
    assert message in err


def test_missing_manifest_file_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "audit", "sample", "--seed", SEED, "--manifest",
                         str(tmp_path / "none.csv"), "--size", "1")
    assert (code, out) == (2, "")
    assert "cannot read the batch manifest" in err


def test_oversized_sample_without_replacement_is_refused(
    capsys: pytest.CaptureFixture[str], manifest: Path
) -> None:
    code, _, err = run(capsys, "audit", "sample", "--seed", SEED, "--manifest", str(manifest),
                       "--size", "56", "--json")
    assert code == 2
    assert "cannot draw 56 cards without replacement from 55" in err


def test_console_script_prints_errors_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"Batch Name,Number of Ballots\npct 1,\xff\n")
    result = subprocess.run(
        [sys.executable, "-c", "from paperchain.cli import main; main()", "audit", "sample",
         "--seed", SEED, "--manifest", str(path), "--size", "1", "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {path} line 2: not UTF-8")
    assert "Traceback" not in result.stderr


def _commands(group: click.Group) -> list[click.Command]:
    found: list[click.Command] = [group]
    for command in group.commands.values():
        found.extend(_commands(command) if isinstance(command, click.Group) else [command])
    return found


def test_every_audit_command_and_option_explains_itself() -> None:
    for command in _commands(audit):
        assert (command.help or "").strip(), command.name
        for param in command.params:
            if isinstance(param, click.Option):
                assert (param.help or "").strip(), f"{command.name} {param.opts}"
