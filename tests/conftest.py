"""Shared fixtures: a tiny random Llama (2 layers, byte tokenizer) and a tiny hand-made suite."""
from __future__ import annotations

import copy
import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest
import torch

from hipbench.method import DEFAULT_TARGETS, Context, Ranks, find_targets

from hipbench.models import LoadedModel, tiny_llama
from hipbench.suite import Example, GeneralSet, Suite, TaskData

torch.set_num_threads(2)
# torch gives some warnings once per process: every time instead, so the error filter in pyproject.toml
# (a number read off a grad-tracking tensor) catches each place, not only the first one a run reaches
torch.set_warn_always(True)
os.environ["HF_HUB_OFFLINE"] = "1"  # no test reaches the hub; subprocesses inherit it


def load_module(path: Path) -> ModuleType:
    """A script or bench file, which is no package module, loaded by its path so its tests can call it."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def _tiny():
    return tiny_llama(seed=0)


@pytest.fixture
def tiny(_tiny):
    """A fresh copy of the tiny model and its tokenizer."""
    model, tokenizer = _tiny
    return copy.deepcopy(model), tokenizer


@pytest.fixture
def tiny_loaded(_tiny):
    model, tokenizer = _tiny
    return LoadedModel(copy.deepcopy(model), tokenizer, "tiny-llama", "random (seed 0)")


def make_suite() -> Suite:
    letters = "abcdefghij"
    copy_task = TaskData(
        name="copy", scoring="choice",
        train=tuple(Example(f"say {c}:", f" {c}", (" x", f" {c}")) for c in letters),
        test=tuple(Example(f"say {c}:", f" {c}", (f" {c}", " x")) for c in letters[:4]))
    shout_task = TaskData(
        name="shout", scoring="exact",
        train=tuple(Example(f"up {c}:", f" {c.upper()}") for c in letters),
        test=tuple(Example(f"up {c}:", f" {c.upper()}") for c in letters[:4]))
    general = GeneralSet(texts=("the cat sat on the mat.", "water is wet."),
                         facts=(Example("one two", " three"), Example("a b", " c")))
    probes = GeneralSet(texts=("dogs bark at night.",), facts=(Example("x y", " z"), Example("red green", " blue")))
    return Suite(name="tiny", tasks=(copy_task, shout_task), preservation=general, probes=probes,
                 definition={"kind": "test fixture"})


@pytest.fixture
def tiny_suite() -> Suite:
    return make_suite()


def attach_method(tiny, method, rank: Ranks, preservation: GeneralSet, svd=None):
    """Freeze the tiny model, attach `method` at `rank` (one for all targets, or a rank per target
    name); returns (model, pretrained copy, context). `svd`: an SVDCache, for methods that read one."""
    model, tokenizer = tiny
    pretrained = copy.deepcopy(model)
    model.requires_grad_(False)
    ctx = Context(tokenizer, torch.device("cpu"), torch.Generator().manual_seed(0), preservation, svd=svd)
    method.attach(model, find_targets(model, DEFAULT_TARGETS), rank, ctx)
    return model, pretrained, ctx


@pytest.fixture(scope="module")
def one_thread():
    """The tiny model's ops are too small for a second thread to help; on a busy machine its
    spin-waiting makes them ~50x slower. Modules opt in with `pytestmark`."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
