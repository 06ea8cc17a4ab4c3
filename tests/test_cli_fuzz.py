"""Fuzzing the command line with invalid input: random and boundary values for every option of every
registered method (adapters and editors) and for the run options, random paths and garbage files for
`--model`, `--data`, `--data-dir` and `--from-file`. Every case is built to be invalid, so the
property is the same for all of them: exit status 1 or 2, at most 3 lines on stderr, no Python
traceback, and no record, log or leaderboard file created or changed (an out directory holding a
complete record and its leaderboard is compared byte for byte).

In-process through click's CliRunner on the tiny model, with few examples per test, so the whole
module runs in well under a minute on one core."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hipbench import registry
from hipbench.cli import main
from hipbench.method import FALSE_WORDS, TRUE_WORDS, option_spec
from hipbench.method import _kind as option_kind

TINY = ["--model", "tiny-llama", "--limit", "4", "--steps", "1", "--seeds", "1", "--device", "cpu"]
FUZZ = settings(max_examples=30, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(root, out): `out` holds one complete tiny lora record and its leaderboard under root/boards;
    the process runs in root/cwd, which starts empty."""
    root = tmp_path_factory.mktemp("fuzz")
    out = root / "runs"
    runner = CliRunner()
    done = runner.invoke(main, ["run", "--method", "lora", "--suite", "continual", *TINY, "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert runner.invoke(main, ["leaderboard", str(out), "--out", str(root / "boards")]).exit_code == 0
    (root / "cwd").mkdir()
    (root / "inputs").mkdir()
    previous = os.getcwd()
    os.chdir(root / "cwd")
    yield root, out
    os.chdir(previous)


def fails_cleanly(world, args: list[str], names: str | None = None) -> str:
    """Invoke `args` (with `--out` the record directory); assert the property; return stderr."""
    root, out = world
    before = {name: snapshot(root / name) for name in ("runs", "boards", "cwd")}
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    shown = f"{args}\n{result.output}"
    assert result.exit_code in (1, 2), shown
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    assert "Traceback" not in result.output, shown
    assert len([line for line in result.stderr.splitlines() if line.strip()]) <= 3, shown  # click usage errors: 3
    assert {name: snapshot(root / name) for name in before} == before, shown
    if names is not None:
        assert names in result.stderr, shown
    return result.stderr


# --- method options ---------------------------------------------------------------------------------

def method_options() -> list[tuple[str, str, type, str]]:
    """(method, suite it runs on, Options class, option) for every option of every registered method."""
    found = []
    for group, suite in ((registry.METHODS, "continual"), (registry.EDITORS, "edit")):
        for name, cls in registry.available(group).items():
            if not isinstance(cls, Exception):
                found += [(name, suite, cls.Options, f.name) for f in dataclasses.fields(cls.Options)]
    return found


def _below(bound: float, kind: type, strict: bool):
    """Values under a lower bound: `bound` itself when the bound is strict, then further down."""
    top = bound if strict else (bound - 1 if kind is int else math.nextafter(bound, -math.inf))
    if kind is int:
        return st.integers(max_value=int(top), min_value=-10**12).map(str)
    return st.floats(max_value=top, min_value=-1e12, allow_nan=False).map(repr)


def _above(bound: float, kind: type, strict: bool):
    low = bound if strict else (bound + 1 if kind is int else math.nextafter(bound, math.inf))
    if kind is int:
        return st.integers(min_value=int(low), max_value=10**12).map(str)
    return st.floats(min_value=low, max_value=1e12, allow_nan=False).map(repr)


def invalid_values(options_cls: type, name: str):
    """Strings that the option's declaration refuses, built from it: out of range, wrong type,
    not among the choices, or (structured strings) random text the declaration does not accept."""
    kind, spec = option_kind(options_cls, name), option_spec(options_cls, name)
    letters = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
    if kind is bool:
        return TEXT.filter(lambda text: text.strip().lower() not in TRUE_WORDS + FALSE_WORDS)
    if spec.choices:
        return TEXT.filter(lambda text: text.strip() not in spec.choices)
    if kind is str:
        return TEXT.filter(lambda text: not spec.accepts(text.strip()))
    wrong = [letters, st.just("")]
    if kind is int:
        wrong += [st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != int(x)).map(repr)]
    else:
        # +inf (also "1e999") is a value where the option declares it (HiP-LoRA's budget=inf: no bound)
        wrong += [st.sampled_from(["nan", "-inf", "NaN"] + ([] if spec.infinite else ["inf", "1e999"]))]
    ranges = []
    if spec.ge is not None or spec.gt is not None:
        ranges.append(_below(spec.gt if spec.gt is not None else spec.ge, kind, spec.gt is not None))
    if spec.le is not None or spec.lt is not None:
        ranges.append(_above(spec.lt if spec.lt is not None else spec.le, kind, spec.lt is not None))
    return st.one_of(*ranges, *wrong)


@st.composite
def bad_method_option(draw):
    method, suite, options_cls, name = draw(st.sampled_from(method_options()))
    return method, suite, name, draw(invalid_values(options_cls, name))


@FUZZ
@given(case=bad_method_option(), command=st.sampled_from(["run", "sweep"]))
def test_a_bad_method_option_fails_cleanly_naming_it(world, case, command):
    method, suite, name, value = case
    fails_cleanly(world, [command, "--method", method, "--suite", suite, *TINY, "--option", f"{name}={value}"],
                  names=f"--option {name}")


@FUZZ
@given(method=st.sampled_from([m for m, *_ in method_options()]), name=st.from_regex(r"[a-z_]{1,12}", fullmatch=True))
def test_an_unknown_method_option_fails_cleanly(world, method, name):
    cls = registry.method_class(method)
    suite = "edit" if getattr(cls, "kind", "adapter") == "editor" else "continual"
    if name in {f.name for f in dataclasses.fields(cls.Options)}:
        name += "_nope"
    fails_cleanly(world, ["run", "--method", method, "--suite", suite, *TINY, "--option", f"{name}=1"],
                  names=f"--option {name}: unknown option")


# --- run options --------------------------------------------------------------------------------------

NOT_POSITIVE_INT = st.one_of(st.integers(max_value=0, min_value=-10**9).map(str), st.just("1.5"), st.just("x"))
RUN_OPTIONS = {
    "--steps": ("continual", NOT_POSITIVE_INT),
    "--limit": ("continual", NOT_POSITIVE_INT),
    "--batch-size": ("continual", NOT_POSITIVE_INT),
    "--budget": ("continual", st.one_of(NOT_POSITIVE_INT, st.integers(1, 200).map(str))),  # 1..200: below LoRA's minimum
    "--lr": ("continual", st.one_of(st.floats(max_value=0, min_value=-1e9).map(repr),
                                    st.sampled_from(["nan", "inf", "-inf", "x"]))),
    "--seeds": ("continual", st.one_of(st.integers(max_value=-1, min_value=-10**20).map(str),
                                       st.integers(min_value=2**32, max_value=10**20).map(str),
                                       st.sampled_from(["1,x", "a", "1;2", "1.0"]))),
    "--num-edits": ("edit", NOT_POSITIVE_INT),
    "--merge-instances": ("merge", NOT_POSITIVE_INT),
    "--merge-rule": ("merge", TEXT.filter(lambda t: t not in ("sum", "ties"))),
    "--ties-trim": ("merge", TEXT.filter(lambda t: t not in ("global", "module"))),
    "--tasks-from": ("merge", st.from_regex(r"[a-z]{1,8}", fullmatch=True).filter(
        lambda t: t not in registry.available(registry.SUITES))),
    "--edit-mode": ("edit", TEXT.filter(lambda t: t not in ("single", "batch", "sequential"))),
    "--device": ("continual", TEXT.filter(lambda t: t not in ("auto", "cpu", "cuda"))),
    "--svd": ("continual", TEXT.filter(lambda t: t not in ("exact", "fast"))),
}
SWEEP_OPTIONS = {
    "--gpus-per-run": st.one_of(st.floats(max_value=0, min_value=-1e9).map(repr), st.floats(min_value=1.0001, max_value=1e9)
                                .map(repr), st.sampled_from(["nan", "x"])),
    "--cpus-per-run": st.one_of(st.floats(max_value=0, min_value=-1e9).map(repr), st.sampled_from(["nan", "x"])),
}


@st.composite
def bad_run_option(draw):
    option = draw(st.sampled_from(sorted(RUN_OPTIONS)))
    suite, values = RUN_OPTIONS[option]
    return option, suite, draw(values)


@FUZZ
@given(case=bad_run_option(), command=st.sampled_from(["run", "sweep"]))
def test_a_bad_run_option_fails_cleanly(world, case, command):
    option, suite, value = case
    args = [a for a in TINY]
    if option in args:  # replace the smoke value rather than give the option twice
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    fails_cleanly(world, [command, "--method", "lora", "--suite", suite, *args])


@FUZZ
@given(option=st.sampled_from(sorted(SWEEP_OPTIONS)), data=st.data())
def test_a_bad_sweep_share_fails_cleanly(world, option, data):
    value = data.draw(SWEEP_OPTIONS[option])
    fails_cleanly(world, ["sweep", "--method", "lora", "--suite", "continual", *TINY, option, value], names=option)


# --- paths and files ------------------------------------------------------------------------------------

NAMES = st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True).filter(lambda n: n not in (".", ".."))
GARBAGE = st.one_of(st.binary(max_size=64), TEXT.map(str.encode))


def _is_json_list(content: bytes) -> bool:
    try:
        return isinstance(json.loads(content), list) and bool(json.loads(content))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False


@st.composite
def bad_path(draw, kind: str):
    """A missing path, a garbage file, or (for models and data directories) a directory that is
    not what the option needs; `kind` is model, data, data-dir or sweep."""
    root = Path(os.getcwd()).parent / "inputs"
    made = root / f"case-{draw(st.integers(0, 10**9))}"
    shape = draw(st.sampled_from(["missing", "file", "directory"] if kind in ("model", "data-dir") else ["missing", "file"]))
    name = draw(NAMES)
    if shape == "missing":
        return str(made / "absent" / name)
    made.mkdir(exist_ok=True)
    if shape == "file":
        suffix = draw(st.sampled_from([".gguf", ".json", ".yaml", ""]))
        content = draw(GARBAGE.filter(lambda c: not _is_json_list(c)))
        if kind == "model" and suffix == ".gguf":
            content = content.removeprefix(b"GGUF") or b"x"
        (made / f"{name}{suffix}").write_bytes(content)
        return str(made / f"{name}{suffix}")
    directory = made / name
    directory.mkdir(exist_ok=True)
    if kind == "model" and draw(st.booleans()):  # a config.json that is not a model's
        (directory / "config.json").write_bytes(draw(GARBAGE.filter(lambda c: b"model_type" not in c)))
    else:
        (directory / draw(NAMES)).write_bytes(draw(GARBAGE))
    return str(directory)


@FUZZ
@given(path=bad_path("model"))
def test_a_bad_model_path_fails_cleanly(world, path):
    args = [*TINY]
    args[1] = path
    fails_cleanly(world, ["run", "--method", "lora", "--suite", "continual", *args], names="--model")


@FUZZ
@given(path=bad_path("data"))
def test_a_bad_edit_data_file_fails_cleanly(world, path):
    fails_cleanly(world, ["run", "--method", "rome", "--suite", "edit", *TINY, "--data", path])


@FUZZ
@given(path=bad_path("data-dir"))
def test_a_bad_data_dir_fails_cleanly(world, path):
    fails_cleanly(world, ["run", "--method", "lora", "--suite", "cl-benchmark", *TINY, "--data-dir", path])


@FUZZ
@given(path=bad_path("sweep"))
def test_a_bad_sweep_file_fails_cleanly(world, path):
    fails_cleanly(world, ["sweep", "--from-file", path])


def _is_json_object(content: bytes) -> bool:
    try:
        return isinstance(json.loads(content), dict)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True), TEXT)
TUNED_ENTRY = st.fixed_dictionaries({}, optional={
    "suite": st.one_of(st.just("continual"), SCALARS), "objective": SCALARS,
    "options": st.one_of(st.dictionaries(st.sampled_from(["k", "budget", "alpha", "nope"]), st.one_of(SCALARS, st.lists(SCALARS, max_size=2)), max_size=2), SCALARS),
    "run": st.one_of(st.dictionaries(st.sampled_from(["lr", "steps", "batch_size", "seed"]), SCALARS, max_size=2), SCALARS)})


@st.composite
def bad_tuned_file(draw):
    """A missing path, garbage, or a tuned.json-shaped object with some field wrong (a missing or
    mistyped field, an untunable setting, an option or setting out of its range)."""
    root = Path(os.getcwd()).parent / "inputs"
    path = root / f"tuned-{draw(st.integers(0, 10**9))}.json"
    shape = draw(st.sampled_from(["missing", "garbage", "entry"]))
    if shape == "missing":
        return str(root / "absent" / path.name)
    if shape == "garbage":
        path.write_bytes(draw(GARBAGE.filter(lambda c: not _is_json_object(c))))
        return str(path)
    entry = draw(TUNED_ENTRY)
    complete = (entry.get("suite") == "continual" and isinstance(entry.get("objective"), (int, float))
                and isinstance(entry.get("options"), dict) and isinstance(entry.get("run"), dict))
    if complete:  # well formed: make a value invalid
        entry["options"]["k"] = draw(st.sampled_from([0, -3, "x", 1.5]))
    path.write_text(json.dumps({"hiplora": entry}))
    return str(path)


@FUZZ
@given(path=bad_tuned_file(), command=st.sampled_from(["run", "sweep"]))
def test_a_bad_tuned_file_fails_cleanly(world, path, command):
    fails_cleanly(world, [command, "--method", "hiplora", "--suite", "continual", *TINY, "--tuned", path])
