"""Resumable runs: a run interrupted at a boundary (a continual task, an edit, a merge evaluation)
or between two, and run again, ends with the same measurement rows and metrics as one run straight
through, for every built-in method; and the one reader of measurement rows those resumes rely on.

Wall-clock fields are the only ones allowed to differ: `finished` (a timestamp), each task's or
edit's `train[i].seconds` (measured by whichever process trained it) and the run's costs that
depend on the process measuring them (`hipbench.costs.PROCESS_FIELDS`: time per step, tokens/s,
set-up seconds, peak memory and how many units the finishing process trained, which a resumed
run measures over its own units only); merge runs add their `seconds` and each adapter's
`seconds` and `cache` path (the record's out directory).
"""
from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import make_suite
from hipbench import runner
from hipbench.config import RunConfig
from hipbench.costs import PROCESS_FIELDS
from hipbench.protocols import continual, edit, merge, merge_adapters
from hipbench.records import (COMPLETE, LAYERS_FILE, RunRecord, move_layers_out, read_layers, read_measurements,
                              write_json_atomic, write_torch_atomic)
from hipbench.suite import EditRequest, Example, Suite, TaskData
from hipbench.train import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")

METHODS = ("lora", "pissa", "hiplora", "olora", "lalora", "sclora")
# LaLoRA's default re-estimates anchor and curvature at every boundary, which a resume would redo
# identically; with refresh off the task-1 anchor and the "true" Fisher's sampler must come back.
CASES = [(name, {}) for name in METHODS] + [("lalora", {"refresh": "false", "fisher": "true"})]
SMOKE = ["--suite", "continual", "--model", "tiny-llama", "--limit", "4", "--steps", "2", "--device", "cpu"]


class Killed(BaseException):
    """Stands in for a kill: not an Exception, so nothing on the way up may swallow it."""


def three_task_suite() -> Suite:
    base = make_suite()
    letters = "abcdefghij"
    swap = TaskData(name="swap", scoring="exact",
                    train=tuple(Example(f"next {c}:", f" {chr(ord(c) + 1)}") for c in letters),
                    test=tuple(Example(f"next {c}:", f" {chr(ord(c) + 1)}") for c in letters[:4]))
    return Suite(name="tiny", tasks=(*base.tasks, swap), preservation=base.preservation, probes=base.probes,
                 definition=base.definition)


def comparable(metrics: dict) -> dict:
    """metrics.json without its wall-clock fields."""
    kept = {key: value for key, value in metrics.items() if key != "finished" and key not in PROCESS_FIELDS}
    kept["train"] = [{k: v for k, v in row.items() if k != "seconds"} for row in metrics["train"]]
    return kept


def read_metrics(directory: Path) -> dict:
    return json.loads((directory / "metrics.json").read_text())


def kill_after_checkpoint(monkeypatch, task, key: str = "task") -> None:
    """Raise `Killed` right after the checkpoint whose `key` is `task` is on disk."""
    save = RunRecord.save_checkpoint

    def save_then_die(self, state):
        save(self, state)
        if state.get(key) == task:
            raise Killed

    monkeypatch.setattr(RunRecord, "save_checkpoint", save_then_die)


@pytest.mark.parametrize("name, options", CASES, ids=[n + "".join(f"-{k}={v}" for k, v in o.items()) for n, o in CASES])
def test_a_run_killed_after_task_two_resumes_to_the_same_metrics(name, options, tiny_loaded, tmp_path, monkeypatch):
    suite = three_task_suite()
    cfg = RunConfig(method=name, suite="tiny", model="tiny-llama", seed=3, train=TrainConfig(steps=3, batch_size=4))
    env = {"hardware": "cpu"}
    straight = runner.run_one(tiny_loaded, suite, cfg, tmp_path / "straight", options, False, env)
    assert straight.status == COMPLETE

    with monkeypatch.context() as patch:
        kill_after_checkpoint(patch, 2)
        with pytest.raises(Killed):
            runner.run_one(tiny_loaded, suite, cfg, tmp_path / "resumed", options, False, env)
    record = RunRecord(tmp_path / "resumed" / straight.directory.relative_to(tmp_path / "straight"))
    assert record.status() == "incomplete"
    assert torch.load(record.checkpoint_path, weights_only=True)["task"] == 2

    resumed = runner.run_one(tiny_loaded, suite, cfg, tmp_path / "resumed", options, False, env)
    assert resumed.status == COMPLETE and resumed.directory == record.dir
    assert comparable(read_metrics(record.dir)) == comparable(read_metrics(straight.directory))
    assert record.measurements() == RunRecord(straight.directory).measurements()
    assert json.loads(record.config_path.read_text())["resumed"][0]["after_task"] == 2
    assert not record.checkpoint_path.exists()  # removed once complete


def test_checkpoint_holds_adapters_not_the_frozen_model(tiny_loaded, tmp_path, monkeypatch):
    """PiSSA rewrites W into its residual (stored); the untouched weights (embeddings, norms) are not."""
    cfg = RunConfig(method="pissa", suite="tiny", model="tiny-llama", seed=1, train=TrainConfig(steps=2, batch_size=4))
    kill_after_checkpoint(monkeypatch, 1)
    with pytest.raises(Killed):
        runner.run_one(tiny_loaded, three_task_suite(), cfg, tmp_path, {}, False, {"hardware": "cpu"})
    state = torch.load(next(tmp_path.rglob("checkpoint.pt")), weights_only=True)
    keys = set(state["adapter"])
    assert "model.layers.0.self_attn.q_proj.base.weight" in keys and "model.layers.0.self_attn.q_proj.lora_A" in keys
    assert not any("embed_tokens" in key or "norm" in key or key == "lm_head.weight" for key in keys)
    assert set(state["rng"]) == {"init", "data_order", "torch"} and state["train_log"][0]["task"] == "copy"


def hipbench_cli(args: list[str], kill_after_task: int | None = None, key: str = "task",
                 setup: str = "") -> subprocess.Popen:
    """`hipbench run` in a subprocess; with `kill_after_task`, it pauses once the checkpoint whose
    `key` is that is written, so the test can SIGKILL it at a known boundary without a race.
    `setup` is Python run before the CLI starts."""
    pause = "" if kill_after_task is None else (
        "from hipbench.records import RunRecord\n"
        "import time\n"
        "save = RunRecord.save_checkpoint\n"
        "def paused(self, state):\n"
        "    save(self, state)\n"
        f"    if state.get({key!r}) == {kill_after_task}:\n"
        "        time.sleep(600)\n"
        "RunRecord.save_checkpoint = paused\n")
    code = setup + pause + "from hipbench.cli import main\nmain()\n"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code, "run", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_sigkilled_cli_run_resumes_to_the_same_metrics(tmp_path):
    args = ["--method", "olora", *SMOKE, "--seeds", "1"]
    record, expected = straight_and_sigkilled_then_resumed(tmp_path, args, "continual/tiny-llama/olora/seed-1-*",
                                                           "task", 2)
    assert comparable(read_metrics(record.dir)) == comparable(read_metrics(expected))
    assert json.loads(record.config_path.read_text())["resumed"][0]["after_task"] == 2
    assert not (record.dir / "checkpoint.pt").exists()


def straight_and_sigkilled_then_resumed(tmp_path: Path, args: list[str], run_glob: str, key: str, at: int,
                                        setup: str = "") -> tuple[RunRecord, Path]:
    """Run `args` straight through into tmp/straight; run them again into tmp/killed, SIGKILL that
    process once its checkpoint with `key` == `at` is on disk, check the record is incomplete, and
    run once more to resume it. Returns (the resumed record, the straight run's directory)."""
    straight = hipbench_cli([*args, "--out", str(tmp_path / "straight")])
    _, err = straight.communicate(timeout=600)
    assert straight.returncode == 0, err
    (expected,) = tmp_path.glob(f"straight/{run_glob}")

    victim = hipbench_cli([*args, "--out", str(tmp_path / "killed")], kill_after_task=at, key=key, setup=setup)
    checkpoint = tmp_path / "killed" / expected.relative_to(tmp_path / "straight") / "checkpoint.pt"
    sigkill_at_checkpoint(victim, checkpoint, key, at)
    record = RunRecord(checkpoint.parent)
    assert record.status() == "incomplete"

    again = hipbench_cli([*args, "--out", str(tmp_path / "killed")])
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    return record, expected


def sigkill_at_checkpoint(victim: subprocess.Popen, checkpoint: Path, key: str, value: int) -> None:
    """Wait until `checkpoint` holds `key` == `value` (the victim pauses there), then SIGKILL it."""
    deadline = time.monotonic() + 600
    while not (checkpoint.exists() and torch.load(checkpoint, weights_only=True).get(key) == value):
        assert victim.poll() is None and time.monotonic() < deadline, f"run ended before its {key}={value} checkpoint"
        time.sleep(0.2)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL


def complete_records(out: Path) -> dict[str, tuple[dict, list[dict]]]:
    """Complete records by directory: metrics without wall-clock fields, and every measurement row
    (a resume that kept the interrupted task's rows would duplicate them without moving a metric)."""
    runs = [path.parent for path in sorted(out.rglob("metrics.json"))]
    done = [run for run in runs if read_metrics(run)["status"] == COMPLETE]
    return {str(run.relative_to(out)): (comparable(read_metrics(run)), RunRecord(run).measurements()) for run in done}


def test_sweep_interrupted_at_three_random_points_matches_one_straight_through(tiny_loaded, tmp_path, monkeypatch):
    suite = three_task_suite()
    monkeypatch.setattr(runner, "load_suite", lambda *args, **kwargs: suite)
    monkeypatch.setattr(runner, "load_model", lambda *args, **kwargs: tiny_loaded)
    configs = [RunConfig(method=m, suite="continual", model="tiny-llama", seed=s, device="cpu",
                         train=TrainConfig(steps=2, batch_size=4)) for m in ("lora", "olora") for s in (1, 2)]
    quiet = lambda message: None
    runner.sweep(configs, tmp_path / "straight", False, log=quiet)
    expected = complete_records(tmp_path / "straight")
    assert len(expected) == 4

    evaluate, points = continual.evaluate, random.Random(7).sample(range(2, 13), 3)
    assert {point % 2 for point in points} == {0, 1}  # both kinds of point below, whatever the seed
    for point in points:  # point 2n: just before the n-th evaluation of this attempt; 2n + 1: just after its rows
        calls, target, after = [0], point // 2, point % 2 == 1

        def interrupted(*args, **kwargs):
            calls[0] += 1
            if calls[0] == target and not after:
                raise Killed
            evaluate(*args, **kwargs)
            if calls[0] == target:
                raise Killed

        monkeypatch.setattr(continual, "evaluate", interrupted)
        with pytest.raises(Killed):
            runner.sweep(configs, tmp_path / "interrupted", False, log=quiet)
    monkeypatch.setattr(continual, "evaluate", evaluate)
    assert len(complete_records(tmp_path / "interrupted")) < 4
    runner.sweep(configs, tmp_path / "interrupted", False, log=quiet)
    assert complete_records(tmp_path / "interrupted") == expected
    assert not list((tmp_path / "interrupted").rglob("checkpoint.pt"))


def test_a_checkpoint_written_before_checkpoints_counted_their_rows_still_resumes(tiny_loaded, tmp_path, monkeypatch):
    """Records of runs started before `rows` existed keep their boundary's rows (after_task <= it)."""
    suite, env = three_task_suite(), {"hardware": "cpu"}
    cfg = RunConfig(method="lora", suite="tiny", model="tiny-llama", seed=2, train=TrainConfig(steps=2, batch_size=4))
    straight = runner.run_one(tiny_loaded, suite, cfg, tmp_path / "straight", {}, False, env)
    with monkeypatch.context() as patch:
        kill_after_checkpoint(patch, 2)
        with pytest.raises(Killed):
            runner.run_one(tiny_loaded, suite, cfg, tmp_path / "resumed", {}, False, env)
    record = RunRecord(tmp_path / "resumed" / straight.directory.relative_to(tmp_path / "straight"))
    old = {key: value for key, value in torch.load(record.checkpoint_path, weights_only=True).items() if key != "rows"}
    write_torch_atomic(record.checkpoint_path, old)
    record.append({"after_task": 3, "task": "copy", "metric": "accuracy", "value": 1.0, "n": 4})  # past the boundary
    runner.run_one(tiny_loaded, suite, cfg, tmp_path / "resumed", {}, False, env)
    assert comparable(read_metrics(record.dir)) == comparable(read_metrics(straight.directory))
    assert record.measurements() == RunRecord(straight.directory).measurements()


# --- the measurement reader ----------------------------------------------------------------------

def test_one_reader_strict_names_an_unreadable_line_and_tolerant_stops_before_it(tmp_path):
    path = tmp_path / "measurements.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3, "b\n')  # a blank line, then a last append cut short
    assert read_measurements(path, strict=False) == [{"a": 1}, {"a": 2}]
    with pytest.raises(ValueError, match=r"measurements\.jsonl, line 4: unreadable measurement row"):
        read_measurements(path, strict=True)
    assert RunRecord(tmp_path).measurements(strict=False) == [{"a": 1}, {"a": 2}]
    assert read_measurements(tmp_path / "absent.jsonl", strict=True) == []


def test_a_finished_record_keeps_its_rows_compressed_the_same_bytes_for_the_same_rows(tmp_path):
    rows = [{"edit": i, "value": i / 7} for i in range(50)]
    digests = []
    for name in ("first", "second"):
        record = RunRecord(tmp_path / name)
        record.start({"config": {}})
        for row in rows:
            record.append(row)
        record.finish({"aa": 1.0})
        assert not record.measurements_path.exists()
        packed = tmp_path / name / "measurements.jsonl.gz"
        assert gzip.decompress(packed.read_bytes()).decode().splitlines() == [json.dumps(r, sort_keys=True) for r in rows]
        assert record.measurements() == rows == read_measurements(record.measurements_path, strict=True)
        digests.append(packed.read_bytes())
    assert digests[0] == digests[1]  # no time or name in the header: a rerun changes no byte
    record.start({"config": {}})  # a finished record run again keeps its old rows aside, compressed
    assert record.measurements() == []
    assert read_measurements(record.previous_measurements_path, strict=True) == rows


def test_a_finished_record_keeps_the_per_layer_detail_beside_its_metrics(tmp_path):
    by_layer = {f"model.layers.{i}.self_attn.q_proj": {"rotation_k": 3, "rotation_drift_left": i / 7,
                                                        "rotation_drift_right": 0.5} for i in range(3)}
    spectral = {"k": 32, "mean": {"drift_left": 0.1}, "by_type": {"q_proj": {"drift_left": 0.1}}, "by_layer": by_layer}
    metrics = {"aa": 1.0, "spectral": spectral,
               "adapters": [{"task": "a", "spectral": spectral}, {"task": "b", "spectral": {**spectral, "by_layer": {}}}]}
    inline = tmp_path / "inline"  # a record made before the detail moved out
    inline.mkdir()
    (inline / "metrics.json").write_text(json.dumps(metrics))
    record = RunRecord(tmp_path / "split")
    record.start({"config": {}})
    record.finish(metrics)
    written = json.loads(record.metrics_path.read_text())
    assert "by_layer" not in written["spectral"] and all("by_layer" not in a["spectral"] for a in written["adapters"])
    assert written["spectral"]["by_type"] == spectral["by_type"] and written["adapters"][1]["task"] == "b"
    assert read_layers(record.dir) == {"spectral": by_layer, "adapters": [by_layer, {}]} == read_layers(inline)
    assert metrics["spectral"]["by_layer"] == by_layer  # the caller's metrics are left as they are
    first = (record.dir / LAYERS_FILE).read_bytes()
    record.start({"config": {}})  # run again: no stale detail beside an incomplete record
    assert not (record.dir / LAYERS_FILE).exists()
    record.finish(metrics)
    assert (record.dir / LAYERS_FILE).read_bytes() == first  # the same bytes for the same detail
    plain = RunRecord(tmp_path / "plain")
    plain.start({"config": {}})
    plain.finish({"aa": 1.0})
    assert not (plain.dir / LAYERS_FILE).exists() and read_layers(plain.dir) == {}


def test_a_record_made_before_the_side_file_is_given_the_new_layout_byte_for_byte(tmp_path):
    spectral = {"k": 4, "mean": {"drift_left": 0.25}, "by_layer": {"m.q_proj": {"rotation_k": 2}}}
    adapters = [{"task": "a", "spectral": spectral}, {"task": "b", "spectral": spectral}]
    metrics = {"aa": float("nan"), "spectral": spectral, "adapters": adapters}
    fresh = RunRecord(tmp_path / "fresh")
    fresh.start({"config": {}})
    fresh.finish(metrics)
    old = tmp_path / "old"  # as finish() wrote it before: detail inline, and a merging record's second copy
    write_json_atomic(old / "metrics.json", {**metrics, "status": COMPLETE,
                                             "spectral_by_task": {a["task"]: a["spectral"] for a in adapters}})
    assert move_layers_out(old) and not move_layers_out(old)  # done once
    for name in ("metrics.json", LAYERS_FILE):
        assert (old / name).read_bytes() == (fresh.dir / name).read_bytes(), name
    differing = tmp_path / "differing"
    write_json_atomic(differing / "metrics.json", {**metrics, "status": COMPLETE, "spectral_by_task": {"a": {}}})
    hand = tmp_path / "hand"
    (hand / "metrics.json").parent.mkdir()
    (hand / "metrics.json").write_text(json.dumps({**metrics, "status": COMPLETE}))
    for directory, message in ((differing, "spectral_by_task differs"), (hand, "not as hipbench writes it")):
        before = (directory / "metrics.json").read_bytes()
        with pytest.raises(ValueError, match=message):
            move_layers_out(directory)
        assert (directory / "metrics.json").read_bytes() == before and not (directory / LAYERS_FILE).exists()


def test_a_resume_keeps_exactly_the_rows_its_checkpoint_vouches_for(tmp_path):
    record = RunRecord(tmp_path)
    record.start({"config": {}})
    rows = [{"step": i} for i in range(3)]
    for row in rows[:2]:
        record.append(row)
    record.save_checkpoint({"at": "two rows"})
    assert record.load_checkpoint()["rows"] == 2
    record.append(rows[2])  # measured after the checkpoint: a resume drops it, the side file keeps it
    with open(record.measurements_path, "a") as fh:
        fh.write('{"step": 3, "va')  # and a kill cut the next append short
    record.resume({"started": "now"}, 2, {"after": "two rows"})
    assert record.measurements() == rows[:2]
    assert read_measurements(record.previous_measurements_path, strict=True) == rows
    assert json.loads(record.config_path.read_text())["resumed"] == [{"after": "two rows", "started": "now",
                                                                     "environment": None}]
    record.measurements_path.write_text('{"step": 0}\n{"st')  # a row the checkpoint vouches for is torn
    assert record.load_checkpoint() is None  # so the run starts over instead


# --- editing -------------------------------------------------------------------------------------

EDITS = tuple(EditRequest(f"{word} of {thing} is", thing, f" {new}", f" {old}", (f"{thing}'s {word} is",),
                          (Example(f"{word} of zed is", " qux"),), (Example(f"{new} is {word} of", f" {thing}"),))
              for word, thing, new, old in (("cap", "foo", "bar", "baz"), ("pet", "ann", "cat", "dog"),
                                            ("hue", "sky", "red", "blue"), ("sum", "two", "six", "four")))


def edit_suite() -> Suite:
    base = make_suite()
    return Suite("edit-test", (), base.preservation, base.probes, {}, edits=EDITS)


def edit_config(method: str, mode: str) -> RunConfig:
    return RunConfig(method=method, suite="edit-test", model="tiny-llama", seed=4,
                     train=TrainConfig(steps=3, lr=1e-2), protocol_options={"edit_mode": mode, "num_edits": 4})


@pytest.fixture
def every_edit_checkpoints(monkeypatch):
    """A checkpoint after every edit (but the last): the cadence depends on wall-clock time."""
    monkeypatch.setattr(edit.Cadence, "due", lambda self: True)


def kill_and_resume(loaded, suite, cfg, tmp_path, monkeypatch, options, protocol, key, value):
    """A straight run, and a run killed after its `key` == `value` checkpoint, then resumed;
    returns both records and the checkpoint the resume started from."""
    env = {"hardware": "cpu"}
    straight = runner.run_one(loaded, suite, cfg, tmp_path / "straight", options, False, env, protocol)
    assert straight.status == COMPLETE
    with monkeypatch.context() as patch:
        kill_after_checkpoint(patch, value, key)
        with pytest.raises(Killed):
            runner.run_one(loaded, suite, cfg, tmp_path / "resumed", options, False, env, protocol)
    record = RunRecord(tmp_path / "resumed" / straight.directory.relative_to(tmp_path / "straight"))
    assert record.status() == "incomplete"
    state = torch.load(record.checkpoint_path, weights_only=True)
    resumed = runner.run_one(loaded, suite, cfg, tmp_path / "resumed", options, False, env, protocol)
    assert resumed.status == COMPLETE and resumed.directory == record.dir
    assert not record.checkpoint_path.exists()
    return RunRecord(straight.directory), record, state


# with dropout, every step draws from torch's global RNG: a resume that did not restore it would differ
EDIT_CASES = CASES + [("lora", {"dropout": "0.3"})]


@pytest.mark.parametrize("name, options", EDIT_CASES,
                         ids=[n + "".join(f"-{k}={v}" for k, v in o.items()) for n, o in EDIT_CASES])
def test_a_sequential_edit_run_killed_after_edit_two_resumes_to_the_same_metrics(
        name, options, tiny_loaded, tmp_path, monkeypatch, every_edit_checkpoints):
    selections = []
    select = edit.select_indices
    monkeypatch.setattr(edit, "select_indices", lambda *args: selections.append(1) or select(*args))
    straight, record, state = kill_and_resume(tiny_loaded, edit_suite(), edit_config(name, "sequential"), tmp_path,
                                              monkeypatch, options, "edit", "edits_done", 2)
    assert state["adapter"] and state["selected"] == [0, 1, 2, 3] and len(state["train"]) == 2
    assert len(selections) == 2  # the resume neither selects nor measures the base model again
    assert comparable(read_metrics(record.dir)) == comparable(read_metrics(straight.dir))
    assert record.measurements() == straight.measurements()
    assert json.loads(record.config_path.read_text())["resumed"][0]["edits_done"] == 2


def test_a_single_edit_run_resumes_without_making_finished_edits_again(tiny_loaded, tmp_path, monkeypatch,
                                                                       every_edit_checkpoints):
    learned = []
    learn = edit.learn
    monkeypatch.setattr(edit, "learn", lambda *args: learned.append(args[2].name) or learn(*args))
    straight, record, state = kill_and_resume(tiny_loaded, edit_suite(), edit_config("lora", "single"), tmp_path,
                                              monkeypatch, {"dropout": "0.3"}, "edit", "edits_done", 3)
    assert "adapter" not in state and len(state["train"]) == 3
    assert learned == [f"edit-{i:03d}" for i in (0, 1, 2, 3, 0, 1, 2, 3)]  # straight, killed; resumed: edit 3
    assert comparable(read_metrics(record.dir)) == comparable(read_metrics(straight.dir))
    assert record.measurements() == straight.measurements()


def test_batch_editing_writes_no_checkpoint(tiny_loaded, tmp_path, monkeypatch, every_edit_checkpoints):
    monkeypatch.setattr(RunRecord, "save_checkpoint", lambda self, state: pytest.fail("batch mode checkpointed"))
    outcome = runner.run_one(tiny_loaded, edit_suite(), edit_config("lora", "batch"), tmp_path, {}, False,
                             {"hardware": "cpu"}, "edit")
    assert outcome.status == COMPLETE


def test_a_checkpoint_for_other_requests_is_not_resumed(tiny_loaded, tmp_path, monkeypatch, every_edit_checkpoints):
    cfg = edit_config("lora", "sequential")
    kill_after_checkpoint(monkeypatch, 1, "edits_done")
    with pytest.raises(Killed):
        runner.run_one(tiny_loaded, edit_suite(), cfg, tmp_path, {}, False, {"hardware": "cpu"}, "edit")
    record = RunRecord(next(tmp_path.rglob("checkpoint.pt")).parent)
    assert edit.read_checkpoint(record, edit_suite())["at"] == {"edits_done": 1}
    reordered = Suite("edit-test", (), edit_suite().preservation, edit_suite().probes, {}, edits=EDITS[::-1])
    assert edit.read_checkpoint(record, reordered) is None


def test_checkpoints_follow_edits_as_often_as_they_stay_cheap():
    now = [0.0]
    cadence = edit.Cadence(share=0.1, clock=lambda: now[0])
    now[0] = 1.0
    assert cadence.due()  # the first edit: the cost is not known yet

    def save():
        now[0] += 0.5

    cadence.write(save)  # took 0.5 s: the next one is due once 5 s of edits have passed
    now[0] += 4.9
    assert not cadence.due()
    now[0] += 0.1
    assert cadence.due()


def test_sigkilled_sequential_edit_cli_run_resumes_to_the_same_metrics(tmp_path):
    data = tmp_path / "edits.json"
    data.write_text(json.dumps([{"src": f"q{i} is", "alt": f" a{i}", "answers": [f" t{i}"], "rephrase": f"q{i} =",
                                 "loc": f"nq{i}", "loc_ans": f" n{i}"} for i in range(5)]))
    args = ["--method", "olora", "--suite", "edit", "--model", "tiny-llama", "--device", "cpu", "--seeds", "1",
            "--steps", "2", "--num-edits", "4", "--data", str(data)]
    every_edit = "from hipbench.protocols import edit\nedit.Cadence.due = lambda self: True\n"
    record, expected = straight_and_sigkilled_then_resumed(tmp_path, args, "edit/tiny-llama/olora/seed-1-*",
                                                           "edits_done", 2, setup=every_edit)
    assert comparable(read_metrics(record.dir)) == comparable(read_metrics(expected))
    assert record.measurements() == RunRecord(expected).measurements()
    assert json.loads(record.config_path.read_text())["resumed"][0]["edits_done"] == 2
    assert not (record.dir / "checkpoint.pt").exists()


# --- merging -------------------------------------------------------------------------------------

def merge_config(method: str) -> RunConfig:
    return RunConfig(method=method, suite="merge", model="tiny-llama", seed=5, train=TrainConfig(steps=2),
                     protocol_options={"merge_rule": "sum", "merge_instances": 2})


def merge_comparable(metrics: dict) -> dict:
    """Merge metrics without wall-clock fields and the adapter cache's location."""
    kept = {key: value for key, value in metrics.items() if key not in ("finished", "seconds", *PROCESS_FIELDS)}
    kept["adapters"] = [{k: v for k, v in row.items() if k not in ("seconds", "cache")} for row in metrics["adapters"]]
    return kept


@pytest.mark.parametrize("name, options", CASES, ids=[n + "".join(f"-{k}={v}" for k, v in o.items()) for n, o in CASES])
def test_a_merge_run_killed_after_an_instance_measures_only_what_it_lacks(name, options, tiny_loaded, tmp_path,
                                                                          monkeypatch):
    suite = three_task_suite()  # t = 2: two instances, t = 3: one
    scored = []
    accuracy = merge.accuracy
    monkeypatch.setattr(merge, "accuracy", lambda *args: scored.append(args[2].name) or accuracy(*args))
    straight, record, state = kill_and_resume(tiny_loaded, suite, merge_config(name), tmp_path, monkeypatch, options,
                                              "merge", "unit", "merged t=2 instance 0")
    assert state["rows"] == 3 + 3 + 3 + 2  # adapters, base, single, the first instance's two tasks
    straight_scores, killed_scores = 3 + 3 + 2 + 2 + 3, 3 + 3 + 2  # base, single, instances of t = 2 and of t = 3
    assert len(scored) == straight_scores + killed_scores + 2 + 3  # resumed: t = 2's second instance, then t = 3
    metrics = read_metrics(record.dir)
    assert metrics["adapters_trained"] == 3  # by this record, before it was killed
    assert merge_comparable(metrics) == merge_comparable(read_metrics(straight.dir))
    assert record.measurements() == straight.measurements()


def test_a_merge_run_killed_while_training_adapters_starts_over_and_counts_them_trained(tiny_loaded, tmp_path,
                                                                                     monkeypatch):
    suite, env, cfg = three_task_suite(), {"hardware": "cpu"}, merge_config("lora")
    straight = runner.run_one(tiny_loaded, suite, cfg, tmp_path / "straight", {}, False, env, "merge")
    train = merge_adapters.train_adapter
    calls = []

    def killed_at_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise Killed
        return train(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(merge_adapters, "train_adapter", killed_at_the_third)
        with pytest.raises(Killed):
            runner.run_one(tiny_loaded, suite, cfg, tmp_path / "resumed", {}, False, env, "merge")
    assert not list((tmp_path / "resumed").rglob("checkpoint.pt"))
    resumed = runner.run_one(tiny_loaded, suite, cfg, tmp_path / "resumed", {}, False, env, "merge")
    assert [a["status"] for a in resumed.metrics["adapters"]] == ["trained"] * 3
    assert merge_comparable(read_metrics(resumed.directory)) == merge_comparable(read_metrics(straight.directory))


EDITOR_CASES = ["rome", "alphaedit", "ft-l", "grace"]  # closed form; closed form with state; fine-tuning; codebook


@pytest.mark.parametrize("name", EDITOR_CASES)
def test_a_sequential_editor_run_killed_after_edit_two_resumes_to_the_same_metrics(
        name, tiny_loaded, tmp_path, monkeypatch, every_edit_checkpoints):
    """The checkpoint holds the changed weights and the editor's state (AlphaEdit's earlier keys,
    GRACE's codebook), never an unchanged pretrained weight; the resumed run equals a straight one."""
    from test_editors import TINY_OPTIONS

    monkeypatch.setenv("HIPBENCH_CACHE", str(tmp_path / "cache"))
    straight, record, state = kill_and_resume(tiny_loaded, edit_suite(), edit_config(name, "sequential"), tmp_path,
                                              monkeypatch, TINY_OPTIONS[name], "edit", "edits_done", 2)
    assert len(state["train"]) == 2 and "adapter" not in state
    assert bool(state["editor_weights"]) == (name != "grace")
    assert all(key.endswith("mlp.down_proj.weight") for key in state["editor_weights"])
    assert bool(state["editor_state"]) == (name in ("alphaedit", "grace"))
    assert comparable(read_metrics(record.dir)) == comparable(read_metrics(straight.dir))
    assert record.measurements() == straight.measurements()


def test_a_single_mode_editor_run_resumes_with_every_edit_on_the_pretrained_weights(
        tiny_loaded, tmp_path, monkeypatch, every_edit_checkpoints):
    """Single mode undoes each edit before the next: the resumed run (a fresh model) matches."""
    from test_editors import TINY_OPTIONS

    monkeypatch.setenv("HIPBENCH_CACHE", str(tmp_path / "cache"))
    straight, record, state = kill_and_resume(tiny_loaded, edit_suite(), edit_config("rome", "single"), tmp_path,
                                              monkeypatch, TINY_OPTIONS["rome"], "edit", "edits_done", 2)
    assert "editor_weights" not in state
    assert comparable(read_metrics(record.dir)) == comparable(read_metrics(straight.dir))
    assert record.measurements() == straight.measurements()
