"""Validation splits and `hipbench tune`: tuning never reads a test example, every method gets the
same declared effort, a killed tuning resumes without repeating finished trials, bad spaces fail in
one line, and `--tuned` runs the test seeds with the choice, saying so in the record."""
from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from hipbench import jobs, registry, runner
from hipbench.cli import main
from hipbench.config import RunConfig
from hipbench.suite import Example, hold_out_validation, with_data_split
from hipbench.tuning import KEY_OPTIONS, TRIALS, default_space, grid_size

from conftest import make_suite

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--suite", "continual", "--model", "tiny-llama", "--limit", "20", "--steps", "2", "--device", "cpu"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_validation_is_carved_from_training_data_the_same_way_every_time():
    suite = make_suite()
    split = hold_out_validation(suite)
    for before, after in zip(suite.tasks, split.tasks):
        assert len(after.validation) == 1 and len(after.train) == len(before.train) - 1  # 10 % of 10
        assert set(after.train) | set(after.validation) == set(before.train)
        assert not set(after.validation) & set(before.test)
        assert list(after.train) == [e for e in before.train if e not in after.validation]  # order kept
        assert after.test == before.test
    assert hold_out_validation(suite) == split
    assert split.definition["validation_split"]["validation_examples"] == {"copy": 1, "shout": 1}
    scored = with_data_split(suite, "holdout-validation")
    assert [t.test for t in scored.tasks] == [t.validation for t in split.tasks]
    assert with_data_split(suite, "all-train") is suite


def test_the_data_split_is_part_of_a_runs_identity_but_all_train_keeps_old_hashes():
    base = RunConfig(method="lora", suite="continual", model="tiny-llama", seed=1)
    assert replace(base, data_split="all-train").hash() == base.hash()
    assert len({base.hash(), replace(base, data_split="holdout-test").hash(),
                replace(base, data_split="holdout-validation").hash()}) == 3
    assert replace(base, tuning={"file": "x"}).hash() == base.hash()  # provenance only


def test_every_method_gets_the_same_declared_effort():
    methods = sorted(name for name, kind in registry.method_kinds().items() if kind == "adapter")
    assert {name: grid_size(default_space(name)) for name in methods} == {name: TRIALS for name in methods}
    for name, (key, _) in KEY_OPTIONS.items():
        assert hasattr(registry.method_class(name).Options(), key), name
    with pytest.raises(ValueError, match="rome is a knowledge editor and has no declared space"):
        default_space("rome")


def poisoned(suite):
    """Every test answer moved to another option: a test-scored run's accuracy must change."""
    def poison(example: Example) -> Example:
        others = [o for o in example.options if o != example.answer] or [example.answer + "x"]
        return replace(example, answer=others[0])
    return replace(suite, tasks=tuple(replace(t, test=tuple(poison(e) for e in t.test)) for t in suite.tasks))


def test_tuning_never_reads_a_test_example(tmp_path, monkeypatch):
    space = ["--space", "lr=1e-4,3e-3"]
    clean = invoke("tune", "--method", "lora", *TINY, *space, "--out", str(tmp_path / "clean"))
    assert clean.exit_code == 0, clean.output
    real_load = runner.load_suite
    monkeypatch.setattr(runner, "load_suite", lambda *args, **kwargs: poisoned(real_load(*args, **kwargs)))
    dirty = invoke("tune", "--method", "lora", *TINY, *space, "--out", str(tmp_path / "dirty"))
    assert dirty.exit_code == 0, dirty.output
    chosen = [json.loads((tmp_path / name / "tuned.json").read_text())["lora"] for name in ("clean", "dirty")]
    for entry in chosen:
        entry.pop("storage")
    assert chosen[0] == chosen[1]
    # the poison is real: trial 0's very run (same seed, lr and training data), scored on test, sees it
    for name in ("dirty", "clean"):
        result = invoke("run", "--method", "lora", *TINY, "--seeds", "42", "--lr", "1e-4",
                        "--out", str(tmp_path / f"test-{name}"))
        assert result.exit_code == 0, result.output
        monkeypatch.setattr(runner, "load_suite", real_load)
    aa = [json.loads(next((tmp_path / f"test-{name}").rglob("metrics.json")).read_text())["aa"]
          for name in ("clean", "dirty")]
    assert aa[0] != aa[1]


def test_a_killed_tuning_resumes_without_repeating_finished_trials(tmp_path, monkeypatch):
    args = ["tune", "--method", "lora", *TINY, "--space", "lr=1e-4,3e-4,1e-3", "--edge-steps", "0", "--out", str(tmp_path)]
    real_execute = jobs.execute
    ran: list[tuple[str, str]] = []

    def killed_at_the_second(job, *rest, **kwargs):
        if len(ran) == 1:
            raise KeyboardInterrupt  # stands in for a kill: nothing may catch it
        result = real_execute(job, *rest, **kwargs)
        ran.append((job.name, result.status))
        return result

    monkeypatch.setattr("hipbench.sweeping.execute", killed_at_the_second)
    interrupted = invoke(*args)  # click turns the interrupt into "Aborted!"
    assert interrupted.exit_code == 1 and "Aborted!" in interrupted.output
    assert [status for _, status in ran] == ["complete"]
    first = ran[0][0]

    def counted(job, *rest, **kwargs):
        result = real_execute(job, *rest, **kwargs)
        ran.append((job.name, result.status))
        return result

    monkeypatch.setattr("hipbench.sweeping.execute", counted)
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert first not in [name for name, _ in ran[1:]]  # its complete record was skipped, not run again
    assert len(ran[1:]) == 2 and all(status == "complete" for _, status in ran[1:])
    tuned = json.loads((tmp_path / "tuned.json").read_text())["lora"]
    assert [t["number"] for t in tuned["trials"]] == [0, 1, 2]  # three trials, none duplicated
    assert all(t["state"] == "COMPLETE" for t in tuned["trials"])
    assert sorted(t["params"]["lr"] for t in tuned["trials"]) == [1e-4, 3e-4, 1e-3]
    # the tuning table, built from the trial records alone, shows the three trials and the same choice
    assert invoke("leaderboard", str(tmp_path / "runs"), "--out", str(tmp_path / "lb")).exit_code == 0
    table = (tmp_path / "lb" / "continual__tiny-llama__tuning.md").read_text()
    assert "Trials per method: lora 3" in table
    rows = [line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| lora")]
    assert [row[1].strip() for row in rows] == ["0", "1", "2"]
    assert [row[1].strip() for row in rows if row[-1].strip().startswith("chosen")] == [str(tuned["chosen_trial"])]
    chosen_lr = tuned["run"]["lr"]
    edge = {1e-4: "chosen (edge: lr min)", 1e-3: "chosen (edge: lr max)"}.get(chosen_lr, "chosen")
    assert [row[-1].strip() for row in rows if row[-1].strip().startswith("chosen")] == [edge]
    objectives = {t["number"]: t["objective"] for t in tuned["trials"]}
    assert [row[8].strip() for row in rows] == [f"{objectives[n]:.4f}" for n in range(3)]
    hardware = json.loads(next((tmp_path / "runs").rglob("config.json")).read_text())["environment"]["hardware"]
    assert all(row[7].strip() == f"{hardware} (fp32)" for row in rows)  # where each trial ran, CPU here


def test_methods_are_tuned_side_by_side_in_one_sweep(tmp_path, monkeypatch):
    """A sweep lasts as long as its slowest run: two methods' grids go out as one sweep, not two."""
    from hipbench import tuning

    sweeps: list[list[str]] = []
    real_run_sweep = tuning.run_sweep

    def recorded(jobs_, *rest, **kwargs):
        sweeps.append(sorted({job.config.method for job in jobs_}))
        return real_run_sweep(jobs_, *rest, **kwargs)

    monkeypatch.setattr(tuning, "run_sweep", recorded)
    result = invoke("tune", "--method", "lora,pissa", *TINY, "--space", "lr=1e-4,3e-4", "--edge-steps", "0",
                    "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert sweeps == [["lora", "pissa"]]
    tuned = json.loads((tmp_path / "tuned.json").read_text())
    assert sorted(tuned) == ["lora", "pissa"] and all(len(tuned[m]["trials"]) == 2 for m in tuned)


def test_a_study_is_named_by_the_settings_it_tunes_not_by_defaults():
    """A changed setting is a new study; a setting at its default does not enter the name, so a run
    setting hipbench adds later (with a default) keeps the names of tunings made before it."""
    from hipbench.run_groups import RunGroup
    from hipbench.tuning import Tuning

    group = RunGroup(methods=("lora",), suite="continual", seeds=(42,))
    name = Tuning(group, default_space("lora"), None).study_name()
    @dataclasses.dataclass(frozen=True)
    class Later(RunGroup):  # the same group after hipbench grew a run setting
        added_later: str | None = None

    later = Later(**{f.name: getattr(group, f.name) for f in dataclasses.fields(group)})
    assert Tuning(later, default_space("lora"), None).study_name() == name
    assert Tuning(replace(later, added_later="x"), default_space("lora"), None).study_name() != name
    assert Tuning(replace(group, steps=10), default_space("lora"), None).study_name() != name
    assert Tuning(group, {"lr": (1e-4,)}, None).study_name() != name
    assert name.startswith("continual-smollm2-135m-lora-")


def test_tpe_runs_exactly_the_trials_asked_for(tmp_path):
    result = invoke("tune", "--method", "lora", *TINY, "--space", "lr=1e-4,3e-4,1e-3", "--trials", "2",
                    "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    tuned = json.loads((tmp_path / "tuned.json").read_text())["lora"]
    assert len(tuned["trials"]) == 2 and tuned["sampler"] == "tpe (2 trials)"


@pytest.mark.parametrize("space, message", [
    ("nope=1,2", "--space nope: not a run setting (lr, steps, batch_size) or an option of hiplora"),
    ("budget=", "--space budget: no values given"),
    ("k=a,b", "--space k=a: expected int"),
    ("lr=1e-4,inf", "--space lr=inf: expected a finite number"),
    ("lr", "--space: expected KEY=V1,V2,..., got 'lr'"),
    ("k=0,32", "--space: hiplora: --option k=0: expected an integer >= 1"),
])
def test_bad_spaces_fail_in_one_line(tmp_path, space, message):
    result = invoke("tune", "--method", "hiplora", *TINY, "--space", space, "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {message}" + result.output.strip().split(message, 1)[1]]
    assert not (tmp_path / "out" / "runs").exists()


def test_tuned_runs_take_the_choice_and_say_so(tmp_path):
    tuned_file = tmp_path / "tuned.json"
    tuned_file.write_text(json.dumps({"hiplora": {"suite": "continual", "options": {"budget": "0.2"},
                                                  "run": {"lr": 0.003}, "objective": 0.5,
                                                  "objective_name": "validation AA"}}))
    tuned_lora = tmp_path / "tuned-lora.json"
    tuned_lora.write_text(json.dumps({"lora": {"suite": "continual", "options": {}, "run": {"lr": 0.001},
                                               "objective": 0.4}}))
    result = invoke("run", "--method", "lora,hiplora", *TINY, "--seeds", "1", "--tuned", str(tuned_file),
                    "--out", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    configs = {p.parts[-3]: json.loads(p.read_text()) for p in (tmp_path / "runs").rglob("config.json")}
    hip, lora = configs["hiplora"]["config"], configs["lora"]["config"]
    assert hip["method_options"] == {"budget": "0.2"} and hip["train"]["lr"] == 0.003
    assert hip["tuning"]["keys"] == ["budget", "lr"] and hip["tuning"]["file"] == str(tuned_file)
    assert lora["tuning"] == {} and lora["train"]["lr"] == 5e-4  # not in the file: untouched
    mixed = invoke("leaderboard", str(tmp_path / "runs"), "--out", str(tmp_path / "lb"))
    assert mixed.exit_code == 1 and "refusing to mix runs in one table: 'train'" in mixed.output  # tuned vs not
    assert invoke("run", "--method", "lora", *TINY, "--seeds", "1", "--tuned", str(tuned_lora), "--out",
                  str(tmp_path / "both")).exit_code == 0
    for hip in (tmp_path / "runs" / "continual" / "tiny-llama" / "hiplora").iterdir():
        shutil.copytree(hip, tmp_path / "both" / "continual" / "tiny-llama" / "hiplora" / hip.name)
    assert invoke("leaderboard", str(tmp_path / "both"), "--out", str(tmp_path / "lb")).exit_code == 0
    labels = [row["method"] for row in json.loads((tmp_path / "lb" / "continual__tiny-llama.json").read_text())["rows"]]
    assert sorted(labels) == ["hiplora [budget=0.2] (tuned: lr=0.003)", "lora (tuned: lr=0.001)"]
    table = json.loads((tmp_path / "lb" / "continual__tiny-llama.json").read_text())
    assert table["paired"]["baseline"] == "lora (tuned: lr=0.001)"  # the tuned LoRA row is the baseline
    assert {row["method"] for row in table["paired"]["rows"]} == {"hiplora [budget=0.2] (tuned: lr=0.003)"}
    assert "lr tuned per method (Method column)" in (tmp_path / "lb" / "continual__tiny-llama.md").read_text()
    by_hand = invoke("run", "--method", "hiplora", *TINY, "--seeds", "1", "--option", "budget=0.2", "--lr", "0.003",
                     "--out", str(tmp_path / "runs"))
    assert "already complete" in by_hand.output  # the same run: tuning is provenance, not identity
    clash = invoke("run", "--method", "hiplora", *TINY, "--tuned", str(tuned_file), "--option", "budget=1",
                   "--out", str(tmp_path / "x"))
    assert clash.exit_code == 1 and "Error: --option budget: also set by --tuned" in clash.output
    lr = invoke("run", "--method", "hiplora", *TINY, "--tuned", str(tuned_file), "--lr", "1e-3", "--out",
                str(tmp_path / "x"))
    assert lr.exit_code == 2 and "--lr and --tuned" in lr.output
    tuned_file.write_text("{not json")
    broken = invoke("run", "--method", "hiplora", *TINY, "--tuned", str(tuned_file), "--out", str(tmp_path / "x"))
    assert broken.exit_code == 1 and f"Error: --tuned {tuned_file}: not JSON" in broken.output
    assert not (tmp_path / "x").exists()


def test_leaderboards_leave_tuning_trials_out_and_never_mix_data_splits(tmp_path):
    runs = tmp_path / "runs"
    assert invoke("tune", "--method", "lora", *TINY, "--space", "lr=1e-4", "--out", str(tmp_path)).exit_code == 0
    assert invoke("run", "--method", "lora", *TINY, "--seeds", "1", "--out", str(runs)).exit_code == 0
    built = invoke("leaderboard", str(runs), "--out", str(tmp_path / "lb"))
    assert built.exit_code == 0, built.output
    table = json.loads((tmp_path / "lb" / "continual__tiny-llama.json").read_text())
    assert [row["aa"]["n"] for row in table["rows"]] == [1]  # the holdout-test run; the trial is not a result
    index = (tmp_path / "lb" / "README.md").read_text()  # ... but its tuning table is linked from the index
    assert "- [continual__tiny-llama__tuning.md](continual__tiny-llama__tuning.md)" in index.split("## Tuning trials")[1]
    assert invoke("run", "--method", "lora", *TINY, "--seeds", "2", "--data-split", "all-train",
                  "--out", str(runs)).exit_code == 0
    mixed = invoke("leaderboard", str(runs), "--out", str(tmp_path / "lb2"))
    assert mixed.exit_code == 1 and "refusing to mix runs in one table: 'data_split'" in mixed.output


def test_a_choice_at_the_edge_of_its_grid_is_named():
    from hipbench.tuning_table import grid_edges

    def trial(lr, budget):
        return {"lr": lr, "options": {"budget": str(budget), "complement": "step"}}

    grid = [trial(lr, b) for lr in (2e-5, 1e-4, 5e-4) for b in (0.2, 0.5, 1.0)]
    assert grid_edges(grid, trial(5e-4, 0.2)) == ["lr max", "budget min"]
    assert grid_edges(grid, trial(1e-4, 0.5)) == []  # inside on both axes
    assert grid_edges(grid[:2], trial(2e-5, 0.2)) == []  # two values tried: no interior to be at the edge of


def test_a_grid_is_extended_past_an_edge_by_one_rule_and_only_there():
    """The best at the top of lr goes on up by the grid's own ratio, at most `steps` values past the
    declared grid; an interior best gets nothing; a value the option refuses is not tried."""
    from hipbench.tuning_edges import edge_candidates

    space = {"lr": (2e-5, 1e-4, 5e-4), "beta": (0.25, 0.5, 0.75)}
    grid = [{"lr": lr, "beta": b} for lr in space["lr"] for b in space["beta"]]
    accepts_all = lambda key, value: True  # noqa: E731

    def scored(best: dict, extra: list = ()) -> list:
        return [(p, 1.0 if p == best else 0.5) for p in grid] + list(extra)

    at_top = {"lr": 5e-4, "beta": 0.5}
    assert edge_candidates(space, scored(at_top), 2, accepts_all) == [{"lr": 2.5e-3, "beta": 0.5}]
    better = [({"lr": 2.5e-3, "beta": 0.5}, 2.0)]
    assert edge_candidates(space, scored(at_top, better), 2, accepts_all) == [{"lr": 1.25e-2, "beta": 0.5}]
    two_past = better + [({"lr": 1.25e-2, "beta": 0.5}, 3.0)]
    assert edge_candidates(space, scored(at_top, two_past), 2, accepts_all) == []  # steps reached
    worse = [({"lr": 2.5e-3, "beta": 0.5}, 0.1)]
    assert edge_candidates(space, scored(at_top, worse), 2, accepts_all) == []  # the edge was tried: no longer best
    assert edge_candidates(space, scored({"lr": 1e-4, "beta": 0.5}), 2, accepts_all) == []  # interior
    corner = {"lr": 2e-5, "beta": 0.25}  # both at their low ends: one candidate per setting
    assert edge_candidates(space, scored(corner), 2, accepts_all) == [{"lr": 4e-6, "beta": 0.25},
                                                                      {"lr": 2e-5, "beta": 0.125}]
    top_beta = {"lr": 1e-4, "beta": 0.75}  # beta 1.125 is outside SC-LoRA's [0, 1]
    accepts = lambda key, value: key != "beta" or 0 <= value <= 1  # noqa: E731
    assert edge_candidates(space, scored(top_beta), 2, accepts) == []
    assert edge_candidates(space, scored(at_top), 0, accepts_all) == []
    assert edge_candidates({"layers": ("1", "3")}, [({"layers": "3"}, 1.0), ({"layers": "1"}, 0.0)], 2,
                           accepts_all) == []  # only float settings have a "beyond"


def score_by_lr(monkeypatch) -> list[dict[str, list[float]]]:
    """Real trial runs, each scored by its lr (the higher, the better, so the best sits at the top of
    a grid), whether it ran now or is read from its complete records; returns the list into which
    every sweep's trial lrs per method are written as it goes out."""
    from hipbench import tuning

    real_run_trials, real_recorded = tuning._run_trials, tuning._recorded_objective
    sent: list[dict[str, list[float]]] = []

    def run_by_lr(tunings, batches, *rest):
        sent.append({method: [params["lr"] for _, params in batch] for method, batch in batches.items() if batch})
        objectives = real_run_trials(tunings, batches, *rest)
        lrs = {(method, number): params["lr"] for method, batch in batches.items() for number, params in batch}
        return {key: lrs[key] for key in objectives}

    def recorded_by_lr(trial_jobs):
        return None if real_recorded(trial_jobs) is None else trial_jobs[0].config.train.lr

    monkeypatch.setattr(tuning, "_run_trials", run_by_lr)
    monkeypatch.setattr(tuning, "_recorded_objective", recorded_by_lr)
    return sent


def test_tune_runs_the_trials_past_the_edge_and_keeps_them_in_tuned_json_and_the_table(tmp_path, monkeypatch):
    """Real trial runs on the tiny model, scored by their lr (the higher, the better) so that the
    best sits at the grid's top: two trials follow past it, are kept as `edge` trials, chosen,
    counted in the tuning table, and found again (not rerun) by a second tuning."""
    score_by_lr(monkeypatch)
    args = ["tune", "--method", "lora", *TINY, "--space", "lr=1e-4,3e-4", "--out", str(tmp_path)]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    entry = json.loads((tmp_path / "tuned.json").read_text())["lora"]
    assert [(t["params"]["lr"], t.get("edge", False)) for t in entry["trials"]] == [
        (1e-4, False), (3e-4, False), (9e-4, True), (2.7e-3, True)]
    assert entry["run"] == {"lr": 2.7e-3} and entry["chosen_trial"] == 3
    assert entry["sampler"] == "grid, 2 trial(s) past its edges"
    assert invoke("leaderboard", str(tmp_path / "runs"), "--out", str(tmp_path / "lb")).exit_code == 0
    table = (tmp_path / "lb" / "continual__tiny-llama__tuning.md").read_text()
    assert "Trials per method: lora 4" in table
    records = sorted((tmp_path / "runs").rglob("metrics.json"))
    again = invoke(*args)
    assert again.exit_code == 0 and json.loads((tmp_path / "tuned.json").read_text())["lora"] == entry
    assert sorted((tmp_path / "runs").rglob("metrics.json")) == records  # nothing new was run


def test_a_grid_point_whose_run_failed_is_retried_and_no_choice_is_made_without_it(tmp_path, monkeypatch):
    """On a GPU some trials ran out of memory: a method must not be chosen from the rest of its grid
    (less effort than the others got), and the next tuning run must retry only those trials."""
    args = ["tune", "--method", "lora", *TINY, "--space", "lr=1e-4,3e-4,1e-3", "--edge-steps", "0", "--out", str(tmp_path)]
    real_execute = jobs.execute
    ran: list[tuple[float, str]] = []

    def out_of_memory_at_3e4(job, *rest, **kwargs):
        if job.config.train.lr == 3e-4:
            ran.append((3e-4, "failed"))
            return jobs.JobResult(job.name, str(job.directory), "failed", 0.0, "RunOutOfMemory: (test)")
        result = real_execute(job, *rest, **kwargs)
        ran.append((job.config.train.lr, result.status))
        return result

    monkeypatch.setattr("hipbench.sweeping.execute", out_of_memory_at_3e4)
    first = invoke(*args)
    assert first.exit_code != 0
    assert "lora: grid trial(s) 1 did not finish" in first.output and "no choice is made from part of a grid" in first.output
    assert "lora" not in json.loads((tmp_path / "tuned.json").read_text())
    assert sorted(ran) == [(1e-4, "complete"), (3e-4, "failed"), (1e-3, "complete")]

    def counted(job, *rest, **kwargs):
        result = real_execute(job, *rest, **kwargs)
        ran.append((job.config.train.lr, result.status))
        return result

    monkeypatch.setattr("hipbench.sweeping.execute", counted)
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert "lora: finishing 1 trial(s) an earlier tuning left unfinished" in again.output
    assert ran[3:] == [(3e-4, "complete")]  # only the open trial ran again
    tuned = json.loads((tmp_path / "tuned.json").read_text())["lora"]
    assert [(t["number"], t["state"]) for t in tuned["trials"]] == [(0, "COMPLETE"), (1, "COMPLETE"), (2, "COMPLETE")]


@pytest.mark.parametrize("study", ["kept", "new"])
def test_a_finished_grid_goes_past_its_edge_in_the_same_sweep_as_anothers_grid(tmp_path, monkeypatch, study):
    """A resumed tuning where one method's grid is done and another's is not: the first's edge trial
    and the second's grid trials go out as one sweep (a sweep lasts as long as its slowest run),
    whether the grid is done in the study or only on record (records copied into a new study)."""
    sent = score_by_lr(monkeypatch)
    space = ["--space", "lr=1e-4,3e-4", "--out", str(tmp_path)]
    assert invoke("tune", "--method", "lora", *TINY, *space, "--edge-steps", "0").exit_code == 0  # lora's grid only
    if study == "new":
        (tmp_path / "tuning.db").unlink()
    sent.clear()
    result = invoke("tune", "--method", "lora,pissa", *TINY, *space, "--edge-steps", "1")
    assert result.exit_code == 0, result.output
    assert sent[0] == {"lora": [9e-4], "pissa": [1e-4, 3e-4]}
    assert sent[1:] == [{"pissa": [9e-4]}, {}]  # then nothing is left to ask
    tuned = json.loads((tmp_path / "tuned.json").read_text())
    assert [(t["params"]["lr"], t.get("edge", False)) for t in tuned["lora"]["trials"]] == [
        (1e-4, False), (3e-4, False), (9e-4, True)]
    assert tuned["lora"]["run"]["lr"] == tuned["pissa"]["run"]["lr"] == 9e-4
