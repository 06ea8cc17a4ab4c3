"""Bad input to `hipbench run`, through the CLI: exit status 1, one `Error:` line naming the option,
file or field, and an out directory that already holds a complete run record left byte for byte as it
was (a failed run must never cost a finished one). The loader's own messages, case by case, are
tested in test_cl_benchmark.py; here they are checked to reach the user intact."""
from __future__ import annotations

import hashlib
import json
import shutil
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_cl_benchmark import records, write_task

from hipbench.cli import main
from hipbench.config import RunConfig
from hipbench.method import identity_options, options_as_recorded
from hipbench.registry import method_class
from hipbench.tasks import cl_benchmark
from hipbench.train import TrainConfig

SMOKE = ["--suite", "continual", "--model", "tiny-llama", "--limit", "6", "--steps", "2", "--device", "cpu",
         "--seeds", "1"]
PUBLISHED = Path(__file__).resolve().parents[1] / "leaderboards" / "runs"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` with the sha256 of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def _complete_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("done") / "runs"
    result = invoke("run", "--method", "lora", *SMOKE, "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def out(_complete_run, tmp_path) -> Path:
    """A fresh copy of an out directory holding one complete lora run record."""
    copy = tmp_path / "runs"
    shutil.copytree(_complete_run, copy)
    record = next(copy.glob("continual/tiny-llama/lora/seed-1-*/metrics.json"))
    assert json.loads(record.read_text())["status"] == "complete"
    return copy


def fails_cleanly(out: Path, *args: str) -> str:
    """Run with `--out out`; assert exit 1, exactly one line of output, and `out` untouched. The line."""
    before = snapshot(out)
    result = invoke("run", *args, "--out", str(out))
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    error_lines = [line for line in lines if line.startswith("Error")]
    assert len(error_lines) == 1 and lines[-1] == error_lines[0], result.output
    assert snapshot(out) == before
    return lines[-1]


def test_unknown_method_names_the_option_and_lists_known_ones(out):
    known = sorted(ep.name for group in ("hipbench.methods", "hipbench.editors") for ep in entry_points(group=group))
    assert "lora" in known and "rome" in known  # adapter methods and knowledge editors share one name space
    line = fails_cleanly(out, "--method", "lora,nope", *SMOKE)
    assert line == f"Error: --method: unknown method 'nope'; known: {', '.join(known)}"


def test_unknown_suite_names_the_option_and_lists_known_ones(out):
    known = sorted(ep.name for ep in entry_points(group="hipbench.suites"))
    line = fails_cleanly(out, "--method", "lora", "--suite", "nope", "--model", "tiny-llama", "--seeds", "1")
    assert line == f"Error: --suite: unknown suite 'nope'; known: {', '.join(known)}"


def test_unknown_model_alias_names_the_option(out):
    line = fails_cleanly(out, "--method", "lora", *SMOKE[:2], "--model", "no-such-model", *SMOKE[4:])
    assert line.startswith("Error: --model no-such-model: not an alias (")
    assert "tiny-llama" in line


@pytest.mark.parametrize("extra,message", [
    (["--steps", "0"], "--steps must be at least 1 (got 0)"),
    (["--budget", "1"], "--budget 1 is below lora's minimum of"),
    (["--budget", "10"], "--budget 10 is below lora's minimum of"),
    (["--option", "rank=3"], "--option rank: unknown option; known: alpha, dropout, rslora"),
])
def test_bad_settings_name_the_option(out, extra, message):
    line = fails_cleanly(out, "--method", "lora", *SMOKE, *extra)
    assert line.startswith("Error: ") and message in line


def cl_data(root: Path, bad_test_json) -> Path:
    """The default five-task order, valid except the first task's test.json."""
    for index, (group, name) in enumerate(cl_benchmark.DEFAULT_ORDER):
        test = records(4, ["x", "y"], "te") if index else bad_test_json
        write_task(root, group, name, ["x", "y"], records(4, ["x", "y"], "tr"), test)
    return root / cl_benchmark.DEFAULT_ORDER[0][0] / cl_benchmark.DEFAULT_ORDER[0][1] / "test.json"


@pytest.mark.parametrize("content,parts", [
    ('[{"sentence": "s", "label": "x"},', ["invalid JSON at line 1 column"]),
    ([{"sentence": "s", "label": "x"}, {"label": "y"}], ["record 1", "field 'sentence'", "missing"]),
    ([{"sentence": "s", "label": "maybe"}], ["record 0", "label 'maybe' not in labels.json"]),
    ([], ["empty split"]),
], ids=["bad-json", "missing-field", "unknown-label", "empty-split"])
def test_bad_cl_benchmark_data_names_the_file_and_field(out, tmp_path, content, parts):
    bad_file = cl_data(tmp_path / "data", content)
    line = fails_cleanly(out, "--method", "lora", "--suite", "cl-benchmark", "--model", "tiny-llama",
                         "--data-dir", str(tmp_path / "data"), "--device", "cpu", "--seeds", "1")
    assert str(bad_file) in line
    for part in parts:
        assert part in line


# --- --trust-remote-code: off unless asked, recorded, and invisible to the hash while off ---------------

def test_trust_remote_code_is_off_by_default_and_reaches_load_model(monkeypatch, tmp_path):
    import hipbench.runner

    seen = []
    real = hipbench.runner.load_model

    def spy(spec, *args, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(hipbench.runner, "load_model", spy)
    for flag in ([], ["--trust-remote-code"]):
        result = invoke("run", "--method", "lora", *SMOKE, "--steps", "1", *flag, "--out", str(tmp_path))
        assert result.exit_code == 0, result.output
    assert seen == [False, True]
    configs = [json.loads(p.read_text())["config"]
               for p in tmp_path.glob("continual/tiny-llama/lora/seed-1-*/config.json")]
    assert sorted(c["trust_remote_code"] for c in configs) == [False, True]  # two runs, two identities


def test_hash_ignores_trust_remote_code_only_while_it_is_off():
    cfg = RunConfig(method="lora", suite="continual", model="tiny-llama", seed=1)
    assert cfg.hash() == "c4fb2feb2867"  # the hash this default config had before the field existed
    trusted = RunConfig(method="lora", suite="continual", model="tiny-llama", seed=1, trust_remote_code=True)
    assert trusted.hash() != cfg.hash()


@pytest.mark.skipif(not PUBLISHED.is_dir(), reason="no published run records")
def test_published_records_keep_their_hashes():
    paths = sorted(PUBLISHED.glob("**/config.json"))
    assert paths
    for path in paths:
        record = json.loads(path.read_text())
        fields = dict(record["config"], train=TrainConfig(**record["config"]["train"]),
                      target_modules=tuple(record["config"]["target_modules"]))
        cfg = RunConfig(**fields)
        assert path.parent.name.endswith(record["config_hash"])
        # today's code, given the options the record ran with, must find the record again; an option
        # the record does not name did not exist yet, and it ran that option's earlier value
        options = options_as_recorded(method_class(cfg.method).Options, record["method_options_resolved"])
        assert cfg.hash(identity_options(options)) == record["config_hash"], path
