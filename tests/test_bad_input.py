"""The error contract of every command line: bad input is one `error:` line naming the culprit, exit
status 2, no traceback, and nothing half-written. README's "Reliability" table lists these cases.

Most cases call the CLI's entry point in this process (sys.argv patched), which is what `python -m`
runs, to keep ~30 cases fast; a few run as real subprocesses to check the process boundary too.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

REPO = Path(__file__).resolve().parents[1]
DEMO = ["+experiment=demo"]

# (id, module, arguments; {tmp} is the test's temp folder, {zoo} the zoo, expected words in the line)
CASES = [
    ("run-unknown-key", "soce_bo.run", [*DEMO, "foo=1"], "unknown key 'foo'"),
    ("run-unknown-benchmark", "soce_bo.run", [*DEMO, "benchmark=nosuch"], "benchmark/nosuch"),
    ("run-unknown-strategy", "soce_bo.run", [*DEMO, "search=[nosuch]"], "search/nosuch"),
    ("run-bad-budget", "soce_bo.run", [*DEMO, "search.bo.budget=-3"], "search.bo.budget"),
    ("run-unknown-strategy-arg", "soce_bo.run", [*DEMO, "+search.bo.nope=1"], "nope"),
    ("run-select-is-report", "soce_bo.run", [*DEMO, "splits.report=dev"], "splits.select and splits.report"),
    ("run-final-dtype", "soce_bo.run", [*DEMO, "final.dtype=int8"], "final.dtype"),
    ("run-final-strategy", "soce_bo.run", [*DEMO, "search=[bo]", "final.strategy=grid"], "final.strategy='grid'"),
    ("run-objective", "soce_bo.run", [*DEMO, "objective=max"], "objective"),
    ("run-limit", "soce_bo.run", [*DEMO, "limit=0"], "limit"),
    ("run-tau", "soce_bo.run", [*DEMO, "analysis.tau=3"], "analysis.tau"),
    ("run-analysis-mode", "soce_bo.run", [*DEMO, "analysis.mode=nope"], "analysis.mode"),
    ("run-replicas", "soce_bo.run", [*DEMO, "servers.replicas=0"], "servers.replicas"),
    ("run-resume-mode", "soce_bo.run", [*DEMO, "resume=maybe"], "resume"),
    ("run-seed", "soce_bo.run", [*DEMO, "seed=abc"], "seed"),
    ("run-unknown-server-key", "soce_bo.run", [*DEMO, "+server.nope=1"], "nope"),
    ("run-missing-split", "soce_bo.run", [*DEMO, "splits.select=nosplit"], "nosplit"),
    ("run-missing-data", "soce_bo.run", [*DEMO, "benchmark.data_dir={tmp}/nodata"], "nodata"),
    ("run-missing-checkpoint", "soce_bo.run", ["+experiment=bfcl_8b", "cluster=local", "dry_run=true",
                                               "pool.candidates.CoALM-8B.path={tmp}/nope"], "does not exist"),
    ("run-stale-ledger", "soce_bo.run", [*DEMO, "limit=8"], "holds scores of another experiment"),
    ("run-zoo-kind", "soce_bo.run", [*DEMO, "pool.zoo_kind=huge"], "pool.zoo_kind must be one of experts, teams"),
    ("run-another-zoo", "soce_bo.run", [*DEMO, "paths.zoo_dir={tmp}/zoo_copy", "pool.zoo_seed=1"],
     "holds another zoo (seed 0"),
    ("zoo-another", "soce_bo.zoo", ["out={tmp}/zoo_copy", "kind=teams"], "holds another zoo (seed 0"),
    ("merge-missing-models", "soce_bo.merge", ["out={tmp}/soup"], "missing models"),
    ("merge-weights-sum", "soce_bo.merge", ["models=[{zoo}/experts/tool_expert,{zoo}/experts/math_expert]",
                                            "weights=[0.3,0.3]", "out={tmp}/soup"], "sum"),
    ("merge-missing-path", "soce_bo.merge", ["models=[{zoo}/experts/tool_expert,{tmp}/nope]", "weights=[0.5,0.5]",
                                             "out={tmp}/soup"], "nope"),
    ("merge-dtype", "soce_bo.merge", ["models=[{zoo}/experts/tool_expert,{zoo}/experts/math_expert]",
                                      "weights=[0.5,0.5]", "out={tmp}/soup", "dtype=int8"], "int8"),
    ("zoo-n-dev", "soce_bo.zoo", ["out={tmp}/zoo", "n_dev=0"], "n_dev"),
    ("zoo-kind", "soce_bo.zoo", ["out={tmp}/zoo", "kind=huge"], "kind must be one of experts, teams"),
    ("zoo-seed", "soce_bo.zoo", ["out={tmp}/zoo", "seed=abc"], "seed"),
    ("zoo-pretrained", "soce_bo.zoo", ["out={tmp}/zoo", "pretrained=maybe"], "pretrained must be true or false"),
    ("zoo-ship-no-zoo", "soce_bo.zoo.pretrained", ["{tmp}/nozoo"], "no readable zoo.json"),
    ("serve-missing-model", "soce_bo.serve", ["models=[{tmp}/nope,{zoo}/experts/tool_expert]"], "nope"),
    ("serve-url", "soce_bo.serve", ["models=[{zoo}/experts/tool_expert,{zoo}/experts/math_expert]",
                                    "server.url=http://127.0.0.1:9"], "server.url"),
    ("evaluate-backend", "soce_bo.evaluate", ["models=[{zoo}/experts/tool_expert]", "backend=foo"], "backend"),
    ("evaluate-missing-model", "soce_bo.evaluate", ["models=[{tmp}/nope]"], "nope"),
    ("report-no-results", "soce_bo.report", ["run_dir={tmp}/norun"], "no results.json"),
    ("report-corrupt-results", "soce_bo.report", ["run_dir={tmp}/corrupt"], "not valid JSON"),
    ("report-old-schema", "soce_bo.report", ["run_dir={tmp}/old"], "schema_version"),
]
# Outputs that must not exist after the failed command (nothing half-written that looks valid).
FORBIDDEN = ["soup", "zoo", "run/results.json", "run/report.md", "run/best_soup", "run/ledger_test.jsonl"]


def _prepare(tmp: Path, case_id: str, zoo_dir: Path) -> None:
    (tmp / "corrupt").mkdir()
    (tmp / "corrupt" / "results.json").write_text('{"schema_version": 2, "run": ')
    (tmp / "old").mkdir()
    (tmp / "old" / "results.json").write_text(json.dumps({"schema_version": 1}))
    if case_id in ("run-another-zoo", "zoo-another"):  # a copy: a regression would rebuild over it, not the suite's zoo
        import shutil

        shutil.copytree(zoo_dir, tmp / "zoo_copy")
    if case_id == "run-stale-ledger":  # a ledger written for the full splits, resumed with limit=8
        from soce_bo.search.ledger import Ledger

        Ledger(tmp / "run" / "ledger.jsonl", header={"identity_version": 1, "limit": None})


def _args(args: list[str], tmp: Path, zoo_dir: Path, module: str) -> list[str]:
    out = [a.format(tmp=tmp, zoo=zoo_dir) for a in args]
    return out + [f"run_dir={tmp}/run"] if module == "soce_bo.run" else out


@pytest.mark.parametrize("case_id,module,args,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_error_line(case_id, module, args, expected, zoo_dir, tmp_path, monkeypatch, capsys):
    _prepare(tmp_path, case_id, zoo_dir)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOCE_ZOO_DIR", str(zoo_dir))
    monkeypatch.setenv("MODELS_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "argv", [module, *_args(args, tmp_path, zoo_dir, module)])
    GlobalHydra.instance().clear()
    package = importlib.import_module(module)
    entry = (importlib.import_module(f"{module}.__main__") if hasattr(package, "__path__") else package).main
    with pytest.raises(SystemExit) as exit_info:
        entry()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert "Traceback" not in err, err
    error_lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(error_lines) == 1, err
    assert expected in error_lines[0], error_lines[0]
    for rel in FORBIDDEN:
        assert not (tmp_path / rel).exists(), f"{rel} left behind by a failed command"
    if case_id == "run-stale-ledger":  # the old ledger is untouched
        assert (tmp_path / "run" / "ledger.jsonl").read_text().count("\n") == 1
    new = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert not [p for p in new if p not in before and p.suffix in (".json", ".jsonl", ".safetensors")], new


def test_bench_bad_argument_is_one_error_line(capsys):
    from bench.run_all import main

    code = main(["--only", "nosuch"])
    err = capsys.readouterr().err
    assert code == 2
    assert [ln for ln in err.splitlines() if ln.startswith("error:")] and "nosuch" in err and "Traceback" not in err


@pytest.mark.parametrize("module,args,expected", [
    ("soce_bo.run", [*DEMO, "foo=1"], "unknown key 'foo'"),
    ("soce_bo.merge", ["out=/nonexistent/soup"], "missing models"),
    ("soce_bo.report", ["run_dir=/nonexistent"], "no results.json"),
    ("bench.run_all", ["--only", "nosuch"], "nosuch"),
    ("bench.merge", ["--nosuchflag"], "--nosuchflag"),
])
def test_bad_input_as_a_user_types_it(module, args, expected, tmp_path):
    """The same contract across the process boundary: `python -m ...`, stderr, exit status."""
    out = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0], out.stderr


def test_soce_debug_shows_the_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "soce_bo.report", "run_dir=/nonexistent"], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(REPO), "SOCE_DEBUG": "1"})
    assert out.returncode == 2 and "Traceback" in out.stderr and "error: no results.json" in out.stderr
