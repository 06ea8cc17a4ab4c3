"""A GGUF model dequantized once and kept in the user cache, so later runs load it in about a second.

Why: transformers reads a GGUF file by dequantizing every tensor in Python and converting its
tokenizer, about 20 s for SmolLM2 on a CPU and 20–45 s on the GPU machine, and every run of a
sweep is a process of its own: a two-GPU session of 140 runs paid that more than 100 times. The
first load writes the dequantized weights (safetensors), the config and the tokenizer into
`<cache>/models/gguf-<sha256>-<dtype>-<versions>/`; later loads read that folder, whose weights are
the same tensors bit for bit and whose tokenizer gives the same ids (tests/test_real_model.py), so
no number changes. The key names the GGUF file's sha256, the dtype and the versions of
transformers and gguf that dequantized it: a new version dequantizes afresh.

The folder is written under a temporary name and renamed into place, so a process never reads half
of one, and by one process at a time: the sweep's runs start together on a fresh machine, and 60 of
them writing 0.5 GB each at once would fill its disk for nothing (the others go on without
writing; `fcntl.flock`, released when the writer exits, even by a kill). A cache that cannot be
written is not an error: the run goes on with the model it loaded. Deliberately not
`save_pretrained`: transformers refuses to serialize a model loaded from GGUF (it stays marked as
quantized, although its weights are plain tensors), so the weights and the config are written here.
"""
from __future__ import annotations

import copy
import fcntl
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch

WEIGHTS = "model.safetensors"


def folder_for(cache: Path, sha256: str, dtype: torch.dtype) -> Path:
    """Where the dequantized copy of the GGUF file with this sha256 lives."""
    from importlib.metadata import version

    dtype_name = str(dtype).removeprefix("torch.")
    versions = f"transformers{version('transformers')}-gguf{version('gguf')}"
    return cache / "models" / f"gguf-{sha256[:16]}-{dtype_name}-{versions}"


def load(path: Path, sha256: str, dtype: torch.dtype, cache: Path) -> tuple[object, torch.nn.Module]:
    """(tokenizer, model) of the GGUF file at `path`: from the cached copy when there is one, else
    dequantized by transformers and then kept."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = folder_for(cache, sha256, dtype)
    if (folder / WEIGHTS).is_file():
        read = _read(folder, dtype)
        if not isinstance(read, str):
            return read
        print(f"hipbench: the cached copy {folder} cannot be used ({read}); reading {path.name} instead",
              file=sys.stderr)
        shutil.rmtree(folder, ignore_errors=True)  # and keeping a sound copy in its place
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=dtype)
    try:
        keep(folder, tokenizer, model)
    except OSError as error:
        print(f"hipbench: could not keep a dequantized copy in {folder.parent} ({error}); "
              f"the next run dequantizes {path.name} again", file=sys.stderr)
    return tokenizer, model


def _read(folder: Path, dtype: torch.dtype) -> tuple[object, torch.nn.Module] | str:
    """(tokenizer, model) from the copy, or what is wrong with it: weights missing or unexpected,
    or a file that cannot be read (a copy damaged after it was written)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        model, info = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, use_safetensors=True,
                                                           output_loading_info=True)
        if info["missing_keys"] or info["unexpected_keys"]:
            return f"{len(info['missing_keys'])} weights missing, {len(info['unexpected_keys'])} unexpected"
        return AutoTokenizer.from_pretrained(folder), model
    except Exception as error:  # safetensors, json and tokenizers raise many kinds; all mean "unusable"
        return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"


def keep(folder: Path, tokenizer, model: torch.nn.Module) -> None:
    """Write the model's weights (tied ones once), its config without the GGUF quantization note,
    its generation config and the tokenizer into `folder`, atomically, unless another process is
    writing it now or has written it."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another process is writing this copy
        if not (folder / WEIGHTS).is_file():
            _write(folder, tokenizer, model)


def _write(folder: Path, tokenizer, model: torch.nn.Module) -> None:
    from safetensors.torch import save_file

    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        config = copy.deepcopy(model.config)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(staging)
        model.generation_config.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        tied = set(_tied_names(model))
        save_file({name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()
                   if name not in tied}, str(staging / WEIGHTS), metadata={"format": "pt"})
        try:
            os.rename(staging, folder)
        except OSError:
            if not (folder / WEIGHTS).is_file():  # not another process's finished copy: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _tied_names(model: torch.nn.Module) -> list[str]:
    """State-dict names that are the very tensor of an earlier name (the output head tied to the
    embedding: same memory, shape and strides, not merely the same storage): from_pretrained ties
    them again from the config, and a load that misses one is refused (`load`)."""
    seen: set[tuple] = set()
    tied = []
    for name, tensor in model.state_dict().items():
        alias = (tensor.data_ptr(), tuple(tensor.shape), tuple(tensor.stride()))
        if alias in seen:
            tied.append(name)
        seen.add(alias)
    return tied
