"""`hipbench sweep`: the Ray executor gives the local executor's records, a killed driver's sweep
started again ends with an uninterrupted one's records, a run that raises is reported by name with
its log while the rest finish, and bad sweep input fails in one line before anything runs.

Ray runs as a real local instance with 2 CPUs (no GPU); every sweep is a subprocess, as a user
would start it, on the tiny model with the fixture plugin's `crashing` method (LoRA that raises at
its second task).
"""
from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock

from hipbench.costs import PROCESS_FIELDS
from hipbench.jobs import Job, log_tail
from hipbench.records import read_measurements
from hipbench.run_groups import SweepFileError, read_sweep_file
from hipbench.runner import run_lock
from hipbench.ray_executor import gpu_shares
from hipbench.sweeping import FALLBACK_GPU_SHARE, Shares, default_gpus_per_run

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIR = Path(__file__).parent / "fixtures" / "plugin"
TINY = {"model": "tiny-llama", "limit": 4, "steps": 3, "device": "cpu"}
SWEEP = {"defaults": {"suite": "continual", **TINY},
         "runs": [{"methods": ["lora", "olora"], "seeds": [1, 2]}, {"methods": "crashing", "seeds": 1}]}
CLEAN = {"defaults": SWEEP["defaults"], "runs": SWEEP["runs"][:1]}


def write_sweep(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))  # JSON is YAML
    return path


def hipbench(*args: str, cwd: Path, background: bool = False):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGIN_DIR), os.environ.get("PYTHONPATH")])),
           "TQDM_DISABLE": "1"}
    command = [sys.executable, "-c", "from hipbench.cli import main; main()", *args]
    if background:  # its output goes to a file, read with `printed`
        output = open(cwd / f"background-{time.monotonic_ns()}.out", "w")
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        process.output_path = Path(output.name)
        return process
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def records(out: Path) -> dict[str, dict]:
    """Every record under `out` by its path: status, metrics and rows without wall-clock fields
    (the costs that depend on the measuring process and machine: `hipbench.costs.PROCESS_FIELDS`)."""
    found = {}
    for metrics_path in sorted(out.glob("continual/*/*/seed-*/metrics.json")):
        metrics = json.loads(metrics_path.read_text())
        for key in ("finished", *PROCESS_FIELDS):
            metrics.pop(key, None)
        for row in metrics.get("train", []):
            row.pop("seconds", None)
        rows = read_measurements(metrics_path.parent / "measurements.jsonl", strict=True)
        found[str(metrics_path.parent.relative_to(out))] = {"metrics": metrics, "rows": rows}
    return found


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """The same sweep file through the local and the Ray executor: (sweep dir, {executor: process})."""
    root = tmp_path_factory.mktemp("sweep")
    sweep_file = write_sweep(root / "sweep.yaml", SWEEP)
    done = {executor: hipbench("sweep", "--from-file", str(sweep_file), "--executor", executor, "--cpus-per-run", "1",
                               "--out", executor, cwd=root)
            for executor in ("local", "ray")}
    return root, done


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_a_run_that_raises_is_reported_by_name_and_the_rest_finish(swept, executor):
    root, done = swept
    result = done[executor]
    assert result.returncode == 1, result.stdout + result.stderr
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED ")]
    assert len(failed) == 1, result.stderr
    assert failed[0].startswith("FAILED continual-tiny-llama-crashing-seed1-")
    assert failed[0].endswith("RuntimeError: crashing fixture: raised at its second task")
    assert "last lines of" in result.stderr and "in begin_task" in result.stderr  # the log's traceback
    assert "4 of 5 runs complete, 1 failed" in result.stderr
    kept = records(root / executor)
    assert sorted(path.split("/")[2] for path in kept) == ["crashing", "lora", "lora", "olora", "olora"]
    assert [kept[p]["metrics"]["status"] for p in sorted(kept) if "/crashing/" in p] == ["incomplete"]
    assert sum(r["metrics"]["status"] == "complete" for r in kept.values()) == 4
    logs = sorted(p.name for p in (root / executor / "logs").glob("*.log"))
    assert len(logs) == 5 and all(name.startswith("continual-tiny-llama-") for name in logs)
    summary = json.loads(next((root / executor / "logs").glob("sweep-*.json")).read_text())
    assert summary["executor"] == executor
    assert sorted(r["status"] for r in summary["results"]) == ["complete"] * 4 + ["failed"]


def test_ray_gives_the_local_executors_records(swept):
    root, _ = swept
    local, ray = records(root / "local"), records(root / "ray")
    assert local.keys() == ray.keys()
    for path in local:
        assert ray[path] == local[path], path


def test_every_ray_run_has_a_process_of_its_own(swept):
    """Five runs on two CPUs: Ray would hand a finished run's worker the next run, with what that
    run left in the process (on a GPU: memory that made later runs hit their cap)."""
    root, _ = swept
    pids = [re.findall(r"^==== \S+ pid (\d+)$", path.read_text(), re.M)
            for path in sorted((root / "ray" / "logs").glob("*.log"))]
    assert len(pids) == 5 and all(len(found) == 1 for found in pids), pids
    assert len({found[0] for found in pids}) == 5, pids


def test_a_sweep_whose_driver_is_killed_ends_as_an_uninterrupted_one(swept):
    root, _ = swept
    sweep_file = write_sweep(root / "clean.yaml", CLEAN)
    out = root / "killed"
    driver = hipbench("sweep", "--from-file", str(sweep_file), "--executor", "ray", "--cpus-per-run", "1",
                      "--out", "killed", cwd=root, background=True)
    try:
        deadline = time.monotonic() + 300
        while not any(r["metrics"]["status"] == "complete" for r in records(out).values()):
            assert driver.poll() is None, printed(driver)
            assert time.monotonic() < deadline, "no run completed in 300 s"
            time.sleep(0.1)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        at_kill = records(out)
        assert sum(r["metrics"]["status"] == "complete" for r in at_kill.values()) < 4  # the kill cut the sweep short
        again = hipbench("sweep", "--from-file", str(sweep_file), "--executor", "ray", "--cpus-per-run", "1",
                         "--out", "killed", cwd=root)
        assert again.returncode == 0, again.stderr
        assert "already complete" in again.stderr
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # what Ray left of the killed driver's instance
        except ProcessLookupError:
            pass
    uninterrupted = {path: r for path, r in records(root / "ray").items() if "/crashing/" not in path}
    assert records(out) == uninterrupted  # same records, every row once


def test_a_second_process_waits_for_the_run_a_first_one_holds(tmp_path):
    """The lock that keeps a straggler and its retry off one record: a `hipbench run` of a record
    whose lock is held writes nothing until the lock is released, then runs it."""
    group = read_sweep_file(write_sweep(tmp_path / "one.yaml", {"runs": [{"suite": "continual", "methods": "lora",
                                                                          "seeds": 5, **TINY}]}))[0]
    job = Job(group.configs("cpu")[0], tmp_path / "out")
    lock = run_lock(job.out, job.directory)
    lock.acquire()
    try:
        waiting = hipbench("run", "--method", "lora", "--suite", "continual", "--model", "tiny-llama", "--limit", "4",
                           "--steps", "3", "--device", "cpu", "--seeds", "5", "--out", "out", cwd=tmp_path,
                           background=True)
        deadline = time.monotonic() + 120
        while "another process is running this record" not in printed(waiting):
            assert waiting.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        assert not (job.directory / "metrics.json").exists()
    finally:
        lock.release()
    assert waiting.wait(timeout=300) == 0
    assert json.loads((job.directory / "metrics.json").read_text())["status"] == "complete"


def printed(process: subprocess.Popen) -> str:
    """What a background process has printed so far."""
    return process.output_path.read_text()


@pytest.mark.parametrize("content, message", [
    ({"runs": [{"suite": "continual", "methods": "lora", "seed": [1]}]}, "runs[0]: unknown field 'seed'"),
    ({"runs": [{"suite": "continual", "methods": "lora"}, {"methods": "lora", "seeds": "x"}]},
     "runs[1]: field 'seeds': expected comma-separated integers, got 'x'"),
    ({"runs": [{"methods": ["lora"]}]}, "runs[0]: field 'suite' is required"),
    ({"runs": [{"suite": "continual", "methods": "lora", "steps": "many"}]}, "runs[0]: field 'steps': expected int"),
    ({"runs": [{"suite": "continual", "methods": "lora", "device": "tpu"}]},
     "runs[0]: field 'device': expected one of auto, cpu, cuda"),
    ({"runs": [{"suite": "continual", "methods": "lora", **TINY}, {"suite": "continual", "methods": "nope", **TINY}]},
     "runs[1]: --method: unknown method 'nope'"),
    ({"runs": [{"suite": "continual", "methods": "hiplora", "options": {"k": "abc"}, **TINY}]},
     "runs[0]: hiplora: --option k=abc: expected an integer >= 1"),
    ({"runs": [{"suite": "continual", "methods": "sclora", "options": {"beta": 2}, **TINY}]},
     "runs[0]: sclora: --option beta=2: expected a number in [0, 1]"),
    ({"runs": [{"suite": "continual", "methods": "lora", **TINY, "model": "no/such-model"}]},
     "runs[0]: --model no/such-model: not an alias"),
    ({"runs": [{"suite": "continual", "methods": "lora", "merge_rule": "sum", **TINY}]},
     "runs[0]: --merge-rule does not apply to suite continual"),
    ({"runs": [{"suite": "continual", "methods": "lora", "steps": 0, **{**TINY, "steps": 0}}]},
     "runs[0]: --steps must be at least 1"),
    ({"runs": []}, "expected a mapping with 'runs:'"),
    ({"runs": [{"suite": "continual", "methods": "lora"}], "default": {}}, "unknown top-level field 'default'"),
    ("runs: [suite: continual\n", "not valid YAML at line 2"),
    ({"runs": [{"suite": "continual", "methods": "lora", "tuned": "nope.json"}]},
     "runs[0]: field 'tuned': nope.json does not exist"),
    ({"runs": [{"suite": "continual", "methods": "lora", "lr": 0.1, "tuned": "nope.json"}]},
     "runs[0]: fields 'lr' and 'tuned': the tuned file sets the learning rate"),
])
def test_bad_sweep_files_fail_in_one_line_naming_entry_and_field(tmp_path, content, message):
    sweep_file = write_sweep(tmp_path / "bad.yaml", content)
    result = hipbench("sweep", "--from-file", "bad.yaml", "--out", "out", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [f"Error: {sweep_file.name}: {message}" + lines[0].split(message, 1)[1]], result.stderr
    assert not (tmp_path / "out").exists()


def test_a_sweep_file_group_runs_with_the_settings_its_tuned_file_chose(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # paths in sweep files are read from where the sweep starts
    Path("tuned.json").write_text(json.dumps({
        "hiplora": {"suite": "continual", "options": {"budget": "0.2"}, "run": {"lr": 0.003}, "objective": 0.5},
        "lora": {"suite": "edit", "options": {}, "run": {"lr": 0.001}, "objective": 0.4}}))
    groups = read_sweep_file(write_sweep(Path("tuned.yaml"), {"defaults": {"suite": "continual", **TINY}, "runs": [
        {"methods": ["olora", "hiplora"], "seeds": [1], "tuned": "tuned.json"}]}))
    configs = {cfg.method: cfg for group in groups for cfg in group.configs("cpu")}
    assert configs["hiplora"].method_options == {"budget": "0.2"} and configs["hiplora"].train.lr == 0.003
    assert configs["hiplora"].tuning["file"] == "tuned.json" and configs["hiplora"].tuning["keys"] == ["budget", "lr"]
    assert configs["olora"].tuning == {} and configs["olora"].train.lr == 5e-4  # not in the file: untouched
    # provenance names hiplora's own entry: another method added to the file later leaves it as it was
    before = configs["hiplora"].tuning["entry_sha256"]
    data = json.loads(Path("tuned.json").read_text())
    Path("tuned.json").write_text(json.dumps({**data, "olora": {**data["lora"], "suite": "continual"}}))
    again = {cfg.method: cfg for group in read_sweep_file(Path("tuned.yaml")) for cfg in group.configs("cpu")}
    assert again["hiplora"].tuning["entry_sha256"] == before and again["olora"].tuning["entry_sha256"] != before
    only_lr = write_sweep(Path("lr.yaml"), {"defaults": {"suite": "continual", **TINY}, "runs": [
        {"methods": ["hiplora"], "seeds": [1], "options": {"budget": "1.0"}, "tuned": {"file": "tuned.json", "keys": ["lr"]}}]})
    (ablated,) = [cfg for group in read_sweep_file(only_lr) for cfg in group.configs("cpu")]
    assert ablated.method_options == {"budget": "1.0"} and ablated.train.lr == 0.003 and ablated.tuning["keys"] == ["lr"]
    for bad, message in (({"file": "tuned.json", "keys": ["k"]}, "hiplora has no tuned setting 'k'"),
                         ({"file": "tuned.json"}, "expected a path to tuned.json or {file: PATH, keys: [...]}"),
                         ({"file": "tuned.json", "keys": []}, "keys: expected a list of setting names")):
        broken = write_sweep(Path("bad.yaml"), {"runs": [{"suite": "continual", "methods": "hiplora", "tuned": bad}]})
        with pytest.raises(SweepFileError, match=re.escape(message)):
            read_sweep_file(broken)
    data["hiplora"]["run"]["lr"] = 0.002
    Path("tuned.json").write_text(json.dumps(data))
    changed = {cfg.method: cfg for group in read_sweep_file(Path("tuned.yaml")) for cfg in group.configs("cpu")}
    assert changed["hiplora"].tuning["entry_sha256"] != before
    wrong_suite = write_sweep(Path("edit.yaml"), {"runs": [{"suite": "continual", "methods": "lora", "tuned": "tuned.json"}]})
    with pytest.raises(SweepFileError, match=r"runs\[0\]: field 'tuned': --tuned tuned.json: lora was tuned on suite edit"):
        read_sweep_file(wrong_suite)
    twice = hipbench("sweep", "--from-file", "tuned.yaml", "--tuned", "tuned.json", "--out", "out", cwd=tmp_path)
    assert twice.returncode == 2 and "name their tuned settings (tuned:) already" in twice.stderr
    assert not (tmp_path / "out").exists()


def test_bad_sweep_options_fail_before_anything_runs(tmp_path):
    cases = [(["--gpus-per-run", "1.5"], "--gpus-per-run"), (["--cpus-per-run", "0"], "--cpus-per-run"),
             (["--address", "auto"], "--address"), ([], "--method and --suite are required without --from-file")]
    for extra, named in cases:
        result = hipbench("sweep", *extra, *(["--method", "lora", "--suite", "continual"] if extra else []),
                          "--out", "out", cwd=tmp_path)
        assert result.returncode == 2 and named in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_ray_executor_without_ray_says_how_to_install_it(tmp_path):
    env = {**os.environ, "TQDM_DISABLE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['ray'] = None\nfrom hipbench.cli import main; main()",
         "sweep", "--method", "lora", "--suite", "continual", "--model", "tiny-llama", "--device", "cpu",
         "--executor", "ray", "--out", "out"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: --executor ray needs Ray: pip install 'hipbench[ray]' (or pip install 'ray>=2.9')")


def test_published_sweep_files_name_exactly_the_published_records(monkeypatch):
    """Each file under leaderboards/sweeps is its leaderboard: its runs' record directories (config
    hashes) are the committed complete records, no more and no fewer. The HiP-LoRA ablation writes
    to a directory of its own (its own table), checked once its records are committed."""
    monkeypatch.chdir(ROOT)  # data paths in sweep files are read from the repository root
    files = sorted((ROOT / "leaderboards" / "sweeps").glob("*.yaml"))
    assert [f.stem for f in files] == ["cl-benchmark", "continual", "edit", "hiplora-ablation", "merge"]
    own = {"hiplora-ablation": ROOT / "leaderboards" / "hiplora-ablation" / "runs"}
    for sweep_file in files:
        out = own.get(sweep_file.stem, ROOT / "leaderboards" / "runs")
        groups = read_sweep_file(sweep_file)
        if any(g.data_dir and not Path(g.data_dir).is_dir() for g in groups) or not out.is_dir():
            continue  # the shared data is not beside this checkout, or the sweep has not been run yet
        dirs = {Job(cfg, out).directory for group in groups for cfg in group.configs(group.device)}
        suite = groups[0].suite
        published = {p.parent for p in (out / suite).rglob("metrics.json") if not _is_trial(p.parent)}
        assert dirs == published, sweep_file.name
        assert all(json.loads((d / "metrics.json").read_text())["status"] == "complete" for d in dirs)


def _is_trial(record_dir: Path) -> bool:
    """`hipbench.tuning_table.is_trial`, the leaderboard's own test, on a record directory."""
    from hipbench.tuning_table import is_trial

    return is_trial({"config": json.loads((record_dir / "config.json").read_text())})


def test_published_tuned_runs_name_their_entry_of_the_committed_tuned_json():
    """Every published record run with tuned settings names a tuned.json in this repository, and
    its entry there is exactly the one the run took (sha256), with the values the run trained at."""
    from hipbench.tuning import entry_digest

    tuned = [json.loads(p.read_text()) for p in (ROOT / "leaderboards").rglob("config.json")]
    tuned = [record["config"] for record in tuned if record["config"].get("tuning", {}).get("file")]
    assert len(tuned) >= 30 + 30 + 42  # continual and edit N = 10 at five seeds, the ablation
    for cfg in tuned:
        path, method = ROOT / cfg["tuning"]["file"], cfg["method"]
        entry = json.loads(path.read_text())[method]
        assert cfg["tuning"]["entry_sha256"] == entry_digest(entry), (path, method)
        assert all(cfg["train"][key] == entry["run"][key] for key in cfg["tuning"]["keys"] if key in entry["run"])
        assert all(cfg["method_options"][key] == str(entry["options"][key])
                   for key in cfg["tuning"]["keys"] if key in entry["options"])


def test_published_tuning_trials_are_exactly_those_of_the_published_tuned_json():
    """The trial records under leaderboards/runs are the trials tuned.json lists, no more and no
    fewer, and each trial's objective there is the one its record gives."""
    from hipbench.runner import suite_protocol
    from hipbench.tuning import objective_of

    out = ROOT / "leaderboards" / "runs"
    listed = {(entry["study"], trial["number"]): trial["objective"]
              for path in sorted((ROOT / "leaderboards" / "tuning").glob("*/tuned.json"))
              for entry in json.loads(path.read_text()).values() for trial in entry["trials"]}
    found = {}
    for config_path in out.rglob("config.json"):
        if _is_trial(config_path.parent):
            cfg = json.loads(config_path.read_text())["config"]
            metrics = json.loads((config_path.parent / "metrics.json").read_text())
            found[(cfg["tuning"]["study"], cfg["tuning"]["trial"])] = objective_of(suite_protocol(cfg["suite"]), metrics)
    assert listed and set(found) == set(listed)
    assert all(found[key] == pytest.approx(listed[key], abs=1e-12) for key in listed)


def test_default_gpu_share_comes_from_the_measured_peak():
    share, why = default_gpus_per_run("continual", "smollm2-135m", 80.0)
    assert share == 0.06 and "measured peak 3 GB" in why  # 1.5 x 3 GB of 80 GB, rounded up
    assert default_gpus_per_run("cl-benchmark", "smollm2-135m", 80.0)[0] == 0.28  # 1.5 x 14.5 GB of 80 GB
    assert default_gpus_per_run("edit", "smollm2-135m", 80.0)[0] == 0.06
    assert default_gpus_per_run("edit", "some/model", 80.0)[0] == FALLBACK_GPU_SHARE


def test_gpu_shares_spread_a_small_sweep_over_every_gpu(tmp_path):
    """Ray fills one GPU before the next: 18 runs whose memory share is 0.06 get an even split
    instead (0.11 on two GPUs: 9 per GPU), a large sweep keeps its memory share, CPU runs ask none."""
    group = read_sweep_file(write_sweep(tmp_path / "shares.yaml", {"runs": [
        {"suite": "continual", "model": "smollm2-135m", "seeds": [1, 2, 3],
         "methods": ["lora", "pissa", "hiplora", "olora", "lalora", "sclora"]}]}))[0]
    jobs = [Job(cfg, Path("out")) for cfg in group.configs("cuda")]
    assert len(jobs) == 18
    assert set(gpu_shares(jobs, Shares(), 2.0, print).values()) == {0.11}
    assert set(gpu_shares(jobs, Shares(), 0.5, print).values()) == {0.06}  # 0.5 / 18 < the memory share
    assert set(gpu_shares(jobs, Shares(gpus_per_run=0.25), 2.0, print).values()) == {0.25}
    cpu = [Job(cfg, Path("out")) for cfg in group.configs("cpu")]
    assert set(gpu_shares(cpu, Shares(), 2.0, print).values()) == {0.0}



def test_an_address_where_no_cluster_answers_fails_at_once(tmp_path):
    """Port 1 of the loopback: nothing listens, so the connection is refused at once (Ray itself
    would retry for minutes)."""
    started = time.monotonic()
    result = hipbench("sweep", "--method", "lora", "--suite", "continual", "--model", "tiny-llama", "--device", "cpu",
                      "--executor", "ray", "--address", "127.0.0.1:1", "--out", "out", cwd=tmp_path)
    assert result.returncode == 1 and time.monotonic() - started < 60
    assert result.stderr.strip().splitlines() == [
        "Error: --address 127.0.0.1:1: no Ray cluster answers there ([Errno 111] Connection refused)"]
    assert not (tmp_path / "out").exists()
