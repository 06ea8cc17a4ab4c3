"""What ROME, MEMIT and AlphaEdit share: their options about keys, values and statistics, and `prepare`.

Each of the three edits MLP down-projections (`module`, default Llama's
`model.layers.{}.mlp.down_proj`) at layers chosen for a 32-layer Llama and scaled to the model's
depth (`hipbench.editor.resolve_layers`). `prepare` runs once on the pretrained model: it resolves
the layers, samples the random prefixes (`hipbench.edit_vectors.sample_prefixes`, from the run's
seeded generator) and loads or computes the key second moment C of every edited layer
(`hipbench.key_stats`). The built-in corpus (the suite's preservation set, about 2,000 SmolLM2
tokens) is smaller than the reference statistics (100,000 Wikipedia samples), so C can be
singular where the papers' is not: C is regularised as C + `cov_damping` · mean(diag C) · I,
`cov_damping` = 1e-2 by default (our choice; 0 gives the papers' C exactly).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hipbench.edit_vectors import FACT_TOKENS, ValueSettings, is_prefix_plan, parse_prefix_plan, sample_prefixes
from hipbench.editor import Editor, layers_option, module_name, module_option, resolve_layers
from hipbench.key_stats import DATASETS_PREFIX, PRESERVATION, KeyStatistics, resolve_corpus
from hipbench.method import Context, option

LLAMA_DEPTH = 32  # the defaults' layers are given for a 32-layer Llama (7B / 8B)


@dataclass
class LocateOptions:
    """Options shared by ROME, MEMIT and AlphaEdit; each editor's Options sets its own defaults.

    layers: comma-separated layer indices or ranges ("4-8"); "" = the editor's default, scaled.
    module: the edited linear, `{}` standing for the layer index.
    fact_token: "subject_last" (the subject's last token, the papers') or "last" (the prompt's).
    prefixes: "LENGTHxCOUNT,..." random prefixes per length (tokens) for keys and values.
    v_num_grad_steps, v_lr, v_weight_decay, kl_factor, clamp_norm_factor: the target value's
        optimisation (`hipbench.edit_vectors`).
    stats_corpus: "preservation" or "datasets:NAME_OR_FILE[,config=C][,split=S][,field=F]".
    stats_tokens: at most this many corpus tokens for C.
    cov_damping: ridge added to C, relative to its mean diagonal (module docstring).
    """

    layers: str = layers_option("the edited layers")
    module: str = module_option("model.layers.{}.mlp.down_proj", "the edited linear")
    fact_token: str = option("subject_last", "the key's token: the subject's last (the papers') or the prompt's",
                             choices=FACT_TOKENS)
    prefixes: str = option("10x5", "random prefixes for keys and values, LENGTHxCOUNT per length",
                           valid=is_prefix_plan, allowed="comma-separated LENGTHxCOUNT pairs of positive integers")
    v_num_grad_steps: int = option(25, "Adam steps of the target value's optimisation", ge=0)
    v_lr: float = option(0.5, "learning rate of the target value's optimisation", gt=0)
    v_weight_decay: float = option(1e-3, "weight decay of the target value's optimisation", ge=0)
    kl_factor: float = option(0.0625, "weight of the KL term that keeps the subject's meaning", ge=0)
    clamp_norm_factor: float = option(4.0, "the value's change is clamped to this times its norm", gt=0)
    stats_corpus: str = option(PRESERVATION, "corpus of the key second moment C",
                               valid=lambda corpus: corpus == PRESERVATION or corpus.startswith(DATASETS_PREFIX),
                               allowed=f"{PRESERVATION} or {DATASETS_PREFIX}NAME_OR_FILE[,config=C][,split=S][,field=F]")
    stats_tokens: int = option(100_000, "at most this many corpus tokens for C", ge=1)
    cov_damping: float = option(1e-2, "ridge added to C, relative to its mean diagonal", ge=0)

    def value_settings(self) -> ValueSettings:
        return ValueSettings(self.v_num_grad_steps, self.v_lr, self.v_weight_decay, self.kl_factor,
                             self.clamp_norm_factor, self.fact_token)


class LocateThenEdit(Editor):
    """Base of ROME, MEMIT and AlphaEdit: `prepare` as the module docstring says."""

    DEFAULT_LAYERS: list[int] = []  # layers of a 32-layer Llama

    def __init__(self, options=None) -> None:
        super().__init__(options)
        self.layers: list[int] = []
        self.modules: list[str] = []
        self.prefixes: list[str] = []
        self.covariances: dict[str, torch.Tensor] = {}  # module -> regularised C (fp64, CPU)
        self.stats: dict = {}

    def prepare(self, model: nn.Module, ctx: Context) -> None:
        options = self.options
        self.layers = resolve_layers(self.name, options.layers, self.DEFAULT_LAYERS, LLAMA_DEPTH, model)
        self.modules = [module_name(self.name, options.module, layer, model) for layer in self.layers]
        self.prefixes = sample_prefixes(model, ctx.tokenizer, parse_prefix_plan(self.name, options.prefixes),
                                        ctx.generator, ctx.device)
        corpus = resolve_corpus(options.stats_corpus, ctx.preservation)
        moments = KeyStatistics().second_moments(model, ctx.tokenizer, self.modules, corpus, options.stats_tokens,
                                                 ctx.device)
        self.covariances = {name: regularised(mom2, options.cov_damping) for name, (mom2, _) in moments.items()}
        self.raw_moments = {name: mom2 for name, (mom2, _) in moments.items()}
        self.stats = {"stats_corpus": corpus.name, "stats_corpus_identity": corpus.identity,
                      "stats_tokens": sorted({count for _, count in moments.values()})[0],
                      "layers": self.layers, "prefixes": len(self.prefixes)}

    def weight_names(self, model: nn.Module) -> list[str]:
        return [f"{name}.weight" for name in self.modules]

    def statistics(self) -> dict:
        return dict(self.stats)


def regularised(mom2: torch.Tensor, damping: float) -> torch.Tensor:
    """C + damping · mean(diag C) · I (module docstring)."""
    scale = float(mom2.diagonal().mean()) if mom2.numel() else 0.0
    return mom2 + damping * scale * torch.eye(mom2.shape[0], dtype=mom2.dtype)


def add_to_weight(model: nn.Module, name: str, delta: torch.Tensor) -> None:
    """W += ΔW (ΔW computed in fp64, added in the weight's dtype)."""
    weight = model.get_submodule(name).weight
    with torch.no_grad():
        weight.add_(delta.to(weight.device, weight.dtype))
