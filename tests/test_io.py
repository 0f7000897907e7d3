"""targetsim.io: atomic files, CSV outputs that keep names exact, the output-folder lock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from targetsim import io
from targetsim.errors import ConfigError
from targetsim.safe_text import neutralise_formula, restore_formula


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_neutralise_then_restore_gives_the_value_back(value):
    assert restore_formula(neutralise_formula(value)) == value
    assert not str(neutralise_formula(value)).startswith(("=", "+", "-", "@", "\t", "\r"))


def test_csv_outputs_are_neutralised_and_read_back_exactly(tmp_path):
    names = ["=1+1", "-North", "'=quoted", "''-x", "plain", "@SUM(1)", "\t=x", "'plain"]
    df = pd.DataFrame({"name": names, "target": [-1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]})
    path = io.write_csv_atomic(df, tmp_path / "t.csv", float_format="%.10g")
    raw = pd.read_csv(path, dtype={"name": str}, keep_default_na=False)
    assert not raw["name"].str.startswith(("=", "+", "-", "@", "\t")).any()
    assert raw["target"].tolist() == df["target"].tolist()  # numbers stay numbers
    back = io.read_csv_output(path, dtype={"name": str}, keep_default_na=False)
    assert back["name"].tolist() == names


def test_nothing_is_put_in_place_after_an_interrupt(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "_interrupted", True)
    with pytest.raises(KeyboardInterrupt), io.atomic_path(tmp_path / "x.csv") as tmp:
        tmp.write_text("half")
    assert list(tmp_path.iterdir()) == []


def test_staged_outputs_all_or_nothing(tmp_path):
    (tmp_path / "targets.csv").write_text("old")
    with pytest.raises(RuntimeError), io.staged_outputs(tmp_path) as stage:
        io.write_text_atomic(stage / "targets.csv", "new")
        raise RuntimeError("a step failed")
    assert (tmp_path / "targets.csv").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["targets.csv"]
    with io.staged_outputs(tmp_path) as stage:
        io.write_text_atomic(stage / "targets.csv", "new")
        io.write_text_atomic(stage / "plan.json", "{}")
    assert (tmp_path / "targets.csv").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json", "targets.csv"]


def _file(t):
    (t / "f").write_text("x")
    return t / "f"


@pytest.mark.parametrize("setup, message", [
    (_file, "is a file, not a folder"),
    (lambda t: _file(t) / "a" / "b", "is a file, so no folder"),
    (lambda t: "", "give a folder name"),
])
def test_output_dir_problems(tmp_path, setup, message):
    with pytest.raises(ConfigError, match=message):
        io.prepare_output_dir(setup(tmp_path))


def test_unwritable_output_dir_is_a_message(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(tmp_path), "mkdir", refuse)
    with pytest.raises(ConfigError, match="cannot create the folder \\(permission denied\\)"):
        io.prepare_output_dir(tmp_path / "new")


def test_lock_is_exclusive_across_processes_and_reentrant_within_one(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from targetsim.io import output_folder
        with output_folder({str(tmp_path)!r}):
            print('held', flush=True)
            time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = f"in use by another targetsim run \\(pid {holder.pid}"
        with pytest.raises(ConfigError, match=busy), io.output_folder(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()
    # The holder was killed: its lock file stays, the OS lock is gone, the folder is free.
    assert (tmp_path / io.LOCK_NAME).exists()
    with io.output_folder(tmp_path), io.output_folder(tmp_path):  # re-entrant
        assert (tmp_path / io.LOCK_NAME).read_text().split()[0] == str(os.getpid())
    assert not (tmp_path / io.LOCK_NAME).exists()


def test_lock_cleans_what_killed_runs_left_and_nothing_else(tmp_path):
    leftovers = [".targets.csv.ab12cd34.tmp", ".fit.nc.zz_99xy0.tmp"]
    for name in leftovers:
        (tmp_path / name).write_text("half")
    (tmp_path / ".targetsim-stage-q1w2e3").mkdir()
    keep = ["notes.tmp", ".my.tmp", "targets.csv"]
    for name in keep:
        (tmp_path / name).write_text("mine")
    with io.output_folder(tmp_path):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)


def test_a_failed_first_run_leaves_no_empty_folder(tmp_path):
    with pytest.raises(RuntimeError), io.output_folder(tmp_path / "new"):
        raise RuntimeError
    assert not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir()
    with pytest.raises(RuntimeError), io.output_folder(tmp_path / "old"):
        raise RuntimeError
    assert (tmp_path / "old").is_dir()  # a folder the user had stays
