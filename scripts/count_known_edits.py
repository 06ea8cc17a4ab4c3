"""Count the built-in `edit` suite's requests the embedded SmolLM2-135M knows, per relation.

"Knows" is the edit protocol's own filter (`base_predicts_ground_truth`,
`hipbench.protocols.edit.base_knows`): every token of the true answer is the teacher-forced
arg-max after the edit prompt. A run keeps exactly these requests, in suite order, before it takes
its first N, so the count is the largest `--num-edits` the suite allows on this model (less the
10 % a `--data-split holdout-*` run holds out). The check runs the protocol's defaults (float32 on
the CPU, its evaluation batch size and length) on one thread (`--threads`): about a minute.

    python scripts/count_known_edits.py > leaderboards/checks/edit-known-smollm2.txt
"""
from __future__ import annotations

import argparse
import platform
import time
from collections import Counter

import torch

from hipbench.config import RunConfig
from hipbench.models import DEFAULT_MODEL, load_model
from hipbench.protocols.edit import base_knows
from hipbench.tasks import edit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="a --model value of hipbench run")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args()
    if args.threads < 1:
        parser.error(f"--threads must be at least 1 (got {args.threads})")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    loaded = load_model(args.model)
    requests = edit.build_requests()
    defaults = RunConfig(method="lora", suite="edit", model=args.model, seed=0)
    knows = base_knows(loaded.model, loaded.tokenizer, list(requests), torch.device("cpu"),
                       defaults.eval_batch_size, defaults.train.max_length)
    seconds = time.perf_counter() - started
    published = edit.PUBLISHED_REQUESTS
    lines = [f"# requests of the built-in edit suite that {loaded.name} knows (filter {edit.BASE_FILTER})",
             "made with: python scripts/count_known_edits.py"
             + (f" --model {args.model}" if args.model != DEFAULT_MODEL else "")
             + (f" --threads {args.threads}" if args.threads != 1 else ""),
             f"model: {loaded.name}; torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
             f"{platform.machine()} CPU, float32; {seconds:.0f} s",
             "", f"{'relation':<16} {'part':<9} {'requests':>8} {'known':>6} {'share':>6}"]
    parts = [("published", range(published)), ("extension", range(published, len(requests)))]
    for part, indices in parts:
        total = Counter(requests[i].relation for i in indices)
        known = Counter(requests[i].relation for i in indices if knows[i])
        for relation in total:
            lines.append(f"{relation:<16} {part:<9} {total[relation]:>8} {known[relation]:>6} "
                         f"{known[relation] / total[relation]:>6.0%}")
    for part, indices in parts:
        passed = sum(bool(knows[i]) for i in indices)
        where = f"positions {indices.start}-{indices.stop - 1}"
        lines.append(f"{part} requests ({where}): {passed} of {len(indices)} known")
    lines.append(f"all requests: {sum(map(bool, knows))} of {len(requests)} known")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
