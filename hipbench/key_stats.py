"""Second moments of MLP keys, C = E[k kᵀ] over a text corpus, cached on disk per model and layer.

A "key" is the input of an MLP's down-projection at one token (Geva et al., 2021; ROME section 3.1).
ROME's update (Meng et al., 2022, eq. 2) and MEMIT's (Meng et al., 2023, eq. 14) weigh the change
of a down-projection by the keys' uncentred second moment C, estimated on general text (their
`layer_stats.py`: 100,000 Wikipedia samples, float32, `mom2`); AlphaEdit (Fang et al., 2025)
projects its update onto the null space of the same matrix. C depends on the pretrained model,
the layer, the corpus and how many tokens are read, and on nothing else, so it is computed once
and stored under `cache_dir()/key_stats/`, keyed by a sha256 of (every parameter's bytes, the
module name, the corpus's identity, the token cap, the tokenization length), as the SVD cache is
keyed by its weight (`hipbench.spectral`): an edited or different model is never served stale
statistics. Sums are accumulated in fp64 and stored in fp64 (a 1536-wide key is 19 MB).

Corpora (`stats_corpus` option of the editors):
- `preservation` (default): the suite's preservation set (`tasks/general.py`'s half that methods
  may use; never the scoring half), its texts and its facts written as prompt + answer. It is
  small: about 2,000 SmolLM2 tokens, fewer than some layers' key width, so C can be singular;
  the editors regularise it as their docstrings say. The token count is recorded in every run.
- `datasets:NAME_OR_FILE[,config=C][,split=S][,field=F]`: a corpus read with the `datasets`
  package (imported only then; `pip install datasets`), a hub name or a local `.json`, `.jsonl`,
  `.csv`, `.txt` or `.parquet` file; split `train` and field `text` unless given.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from hipbench.models import cache_dir
from hipbench.suite import GeneralSet

PRESERVATION = "preservation"
DATASETS_PREFIX = "datasets:"
STATS_VERSION = "mom2-v1"  # in every key: a changed estimator gets new files
LOCAL_FORMATS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".txt": "text", ".parquet": "parquet"}


@dataclass(frozen=True)
class Corpus:
    """Texts to estimate key statistics on, and a string that identifies them (part of the cache key)."""

    name: str
    texts: tuple[str, ...]
    identity: str


def preservation_corpus(preservation: GeneralSet) -> Corpus:
    """The suite's preservation set: its texts, then each fact as prompt + answer."""
    texts = tuple(preservation.texts) + tuple(fact.prompt + fact.answer for fact in preservation.facts)
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    return Corpus(PRESERVATION, texts, f"{PRESERVATION}:{digest}")


def datasets_corpus(spec: str, option: str = "stats_corpus") -> Corpus:
    """`datasets:NAME_OR_FILE[,config=C][,split=S][,field=F]` read with the `datasets` package."""
    name, *pairs = spec[len(DATASETS_PREFIX):].split(",")
    settings = {"config": None, "split": "train", "field": "text"}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key.strip() not in settings:
            raise ValueError(f"--option {option}={spec}: expected datasets:NAME[,config=C][,split=S][,field=F]")
        settings[key.strip()] = value.strip()
    if not name.strip():
        raise ValueError(f"--option {option}={spec}: no data set named after 'datasets:'")
    try:
        import datasets
    except ImportError:
        raise ValueError(f"--option {option}={spec}: the datasets package is not installed "
                         f"(pip install datasets)") from None
    path = Path(name)
    if path.is_file():
        kind = LOCAL_FORMATS.get(path.suffix)
        if kind is None:
            raise ValueError(f"--option {option}={spec}: unknown file type {path.suffix} "
                             f"(known: {', '.join(LOCAL_FORMATS)})")
        data = datasets.load_dataset(kind, data_files=str(path), split=settings["split"])
        identity = f"{path.resolve()}:{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"
    else:
        data = datasets.load_dataset(name, settings["config"], split=settings["split"])
        identity = f"{name}:{settings['config']}:{getattr(data, '_fingerprint', '')}"
    field = settings["field"]
    if field not in data.column_names:
        raise ValueError(f"--option {option}={spec}: field '{field}' not in the data set "
                         f"(columns: {', '.join(data.column_names)})")
    texts = tuple(str(text) for text in data[field] if str(text).strip())
    return Corpus(spec, texts, f"datasets:{identity}:{settings['split']}:{field}")


def resolve_corpus(spec: str, preservation: GeneralSet, option: str = "stats_corpus") -> Corpus:
    """The corpus an editor's `stats_corpus` option names; a bad value fails naming the option."""
    if spec == PRESERVATION:
        return preservation_corpus(preservation)
    if spec.startswith(DATASETS_PREFIX):
        return datasets_corpus(spec, option)
    raise ValueError(f"--option {option}={spec}: expected '{PRESERVATION}' or "
                     f"'datasets:NAME_OR_FILE[,config=C][,split=S][,field=F]'")


def model_fingerprint(model: nn.Module) -> str:
    """sha256 of every parameter's name, shape, dtype and bytes: the statistics' model identity."""
    digest = hashlib.sha256()
    for name, param in model.named_parameters():
        data = param.detach().to("cpu").contiguous()
        digest.update(f"{name}:{tuple(data.shape)}:{data.dtype}".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()[:32]


class KeyStatistics:
    """C = E[k kᵀ] of the inputs of named linear modules, on disk and in memory."""

    def __init__(self, directory: Path | None = None, batch_size: int = 8, max_length: int = 256) -> None:
        self.dir = Path(directory) if directory is not None else cache_dir() / "key_stats"
        self.batch_size, self.max_length = batch_size, max_length
        self._memory: dict[str, tuple[torch.Tensor, int]] = {}
        self.computed = 0
        self.loaded = 0

    def key(self, fingerprint: str, module: str, corpus: Corpus, max_tokens: int) -> str:
        text = f"{STATS_VERSION}|{fingerprint}|{module}|{corpus.identity}|{max_tokens}|{self.max_length}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def second_moments(self, model: nn.Module, tokenizer, modules: list[str], corpus: Corpus, max_tokens: int,
                       device: torch.device) -> dict[str, tuple[torch.Tensor, int]]:
        """Per module name: (C as an fp64 matrix on the CPU, number of tokens it averages). The
        modules missing from the cache are computed together in one pass over the corpus."""
        if max_tokens < 1:
            raise ValueError(f"--option stats_tokens must be positive (got {max_tokens})")
        fingerprint = model_fingerprint(model)
        keys = {name: self.key(fingerprint, name, corpus, max_tokens) for name in modules}
        found: dict[str, tuple[torch.Tensor, int]] = {}
        for name, key in keys.items():
            if key in self._memory:
                found[name] = self._memory[key]
            elif (self.dir / f"{key}.safetensors").is_file():
                stored = load_file(str(self.dir / f"{key}.safetensors"))
                found[name] = self._memory[key] = (stored["mom2"], int(stored["count"].item()))
                self.loaded += 1
        missing = [name for name in modules if name not in found]
        if missing:
            for name, (mom2, count) in self._compute(model, tokenizer, missing, corpus, max_tokens, device).items():
                self._store(keys[name], mom2, count)
                found[name] = self._memory[keys[name]] = (mom2, count)
                self.computed += 1
        return found

    @torch.no_grad()
    def _compute(self, model: nn.Module, tokenizer, modules: list[str], corpus: Corpus, max_tokens: int,
                 device: torch.device) -> dict[str, tuple[torch.Tensor, int]]:
        if not corpus.texts:
            raise ValueError(f"key statistics: corpus {corpus.name} holds no text")
        sums = {name: None for name in modules}
        mask_now: dict[str, torch.Tensor] = {}

        def hook(name):
            def accumulate(_module, inputs):
                keys = inputs[0].detach()[mask_now["mask"]].double()
                sums[name] = keys.T @ keys if sums[name] is None else sums[name] + keys.T @ keys
            return accumulate

        handles = [model.get_submodule(name).register_forward_pre_hook(hook(name)) for name in modules]
        count = 0
        was_training = model.training
        model.eval()
        try:
            bar = tqdm(total=min(max_tokens, len(corpus.texts) * self.max_length), unit="tok",
                       desc=f"key statistics ({corpus.name}, {len(modules)} layer(s))", leave=False, dynamic_ncols=True)
            for start in range(0, len(corpus.texts), self.batch_size):
                if count >= max_tokens:
                    break
                rows = [tokenizer(text, add_special_tokens=False)["input_ids"][:self.max_length]
                        for text in corpus.texts[start:start + self.batch_size]]
                rows = [row for row in rows if row]
                kept = []
                for row in rows:  # the token cap cuts the last text it reaches
                    take = min(len(row), max_tokens - count - sum(len(r) for r in kept))
                    if take > 0:
                        kept.append(row[:take])
                if not kept:
                    break
                width = max(map(len, kept))
                ids = torch.full((len(kept), width), tokenizer.pad_token_id, dtype=torch.long)
                mask = torch.zeros((len(kept), width), dtype=torch.bool)
                for i, row in enumerate(kept):
                    ids[i, :len(row)] = torch.tensor(row)
                    mask[i, :len(row)] = True
                mask_now["mask"] = mask.to(device)
                model(input_ids=ids.to(device), attention_mask=mask.long().to(device))
                tokens = int(mask.sum())
                count += tokens
                bar.update(tokens)
            bar.close()
        finally:
            for handle in handles:
                handle.remove()
            model.train(was_training)
        return {name: ((total / count).cpu(), count) for name, total in sums.items()}

    def _store(self, key: str, mom2: torch.Tensor, count: int) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")
        os.close(fd)
        save_file({"mom2": mom2.contiguous(), "count": torch.tensor([count], dtype=torch.int64)}, tmp)
        os.replace(tmp, self.dir / f"{key}.safetensors")
