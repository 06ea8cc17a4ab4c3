"""Training throughput: hipbench's shared loop per method against a plain PEFT LoRA loop.

Both sides train the same model on the same batches (same examples, batch size, sequence length,
AdamW, bf16 autocast on CUDA). The plain loop gets its batches tokenized in advance and calls the
model with `labels=`, as a user's script would; hipbench's loop tokenizes per step and runs its
hooks, so any harness overhead shows up in the ratio. Ratios are measured in one process, one
after the other, after a warm-up, so they compare like with like on whatever machine runs this.

    python bench/train_step.py --model smollm2-135m --methods lora,hiplora --steps 30
    python bench/train_step.py --model llama8b-shape --methods lora --steps 10   # random bf16 weights

Prints one line per contender and writes JSON with --json.
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import time

import torch

from hipbench.config import RunConfig
from hipbench.method import DEFAULT_TARGETS, Context
from hipbench.models import byte_tokenizer, load_model
from hipbench.protocols.continual import plan_budget
from hipbench.runner import make_method
from hipbench.spectral import SVDCache
from hipbench.suite import Example, GeneralSet, TaskData
from hipbench.train import TrainConfig, collate, encode, train_task

WORDS = ("river stone light paper window garden silver market engine forest cloud letter bridge "
         "number candle orange winter music planet circle doctor yellow mirror island").split()


def llama8b_shaped() -> tuple[torch.nn.Module, object]:
    """Llama-3.1-8B's shapes with random bf16 weights: throughput does not depend on the values."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                         num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192,
                         rope_theta=500000.0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    return model, byte_tokenizer()


def examples(count: int, words: int, seed: int = 0) -> tuple[Example, ...]:
    rng = random.Random(seed)
    text = lambda n: " ".join(rng.choice(WORDS) for _ in range(n))
    return tuple(Example(prompt=text(words), answer=text(words // 8)) for _ in range(count))


def plain_peft_loop(model: torch.nn.Module, batches: list[dict], cfg: TrainConfig, device: torch.device) -> float:
    """Seconds for `len(batches)` steps of the loop a PEFT user writes."""
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                                  target_modules=list(DEFAULT_TARGETS)))
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=cfg.lr)
    peft_model.train()
    sync(device)
    start = time.perf_counter()
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = peft_model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(peft_model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    sync(device)
    return time.perf_counter() - start


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--methods", default="lora,pissa,hiplora,olora,lalora,sclora")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--words", type=int, default=180, help="prompt words per example (~1.3 tokens each)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.model == "llama8b-shape":
        model, tokenizer = llama8b_shaped()
    else:
        loaded = load_model(args.model)
        model, tokenizer = loaded.model.to(device), loaded.tokenizer
    model.requires_grad_(False)
    data = examples(args.batch * (args.steps + args.warmup), args.words)
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    pairs = [encode(tokenizer, e, cfg.max_length) for e in data]
    batches = []
    for i in range(0, len(pairs), args.batch):
        batch = collate(pairs[i:i + args.batch], pad)
        batches.append({"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
                        "labels": batch["labels"]})
    tokens = sum(int(b["attention_mask"].sum()) for b in batches[args.warmup:])

    results = []
    plain_peft_loop(copy.deepcopy(model), batches[:args.warmup], cfg, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    seconds = plain_peft_loop(copy.deepcopy(model), batches[args.warmup:], cfg, device)
    baseline = tokens / seconds
    results.append({"name": "plain PEFT LoRA r8", "tokens_per_s": baseline, "ratio": 1.0,
                    "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None})

    preservation = GeneralSet(tuple(f"{e.prompt} {e.answer}" for e in data[:16]), ())
    for name in args.methods.split(","):
        method = make_method(name, {})
        work = copy.deepcopy(model)
        run_cfg = RunConfig(method=name, suite="bench", model=args.model, seed=0, train=cfg)
        plan = plan_budget(work, method, run_cfg)
        ctx = Context(tokenizer=tokenizer, device=device, generator=torch.Generator().manual_seed(0),
                      preservation=preservation, batch_size=args.batch, max_length=cfg.max_length,
                      svd=SVDCache(device=device))
        method.attach(work, plan["targets"], plan["rank"], ctx)
        work.to(device)
        task = TaskData(name="bench", scoring="exact", train=data, test=())
        method.begin_task(work, task, ctx)
        train_task(work, method, data[:args.batch * args.warmup], tokenizer,
                   TrainConfig(steps=args.warmup, batch_size=args.batch), device, torch.Generator().manual_seed(0))
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        stats = train_task(work, method, data[args.batch * args.warmup:], tokenizer, cfg, device,
                           torch.Generator().manual_seed(1))
        rate = stats.tokens / stats.seconds
        results.append({"name": f"hipbench {name} (rank {plan['rank']}, {plan['planned_trainable']} trainable)",
                        "tokens_per_s": rate, "ratio": rate / baseline,
                        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None})
        del work
    lora = next((r for r in results if r["name"].startswith("hipbench lora ")), None)
    for row in results:
        per_lora = f"  time/step vs hipbench LoRA {lora['tokens_per_s'] / row['tokens_per_s']:.2f}x" if lora else ""
        memory = f"  peak {row['peak_gib']:.2f} GiB" if row["peak_gib"] is not None else ""
        print(f"{row['name']:55s} {row['tokens_per_s']:10.0f} tokens/s  {row['ratio']:.2f}x plain PEFT{per_lora}{memory}")
    if args.json:
        env = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
               "model": args.model, "batch": args.batch, "steps": args.steps, "date": time.strftime("%Y-%m-%d")}
        with open(args.json, "w") as handle:
            json.dump({"environment": env, "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
