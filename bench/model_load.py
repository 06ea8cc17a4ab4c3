"""Loading the default model: transformers' GGUF reader against the dequantized copy the first load
keeps (`hipbench/gguf_cache.py`), in one process, in a fresh temporary cache.

Every run of a sweep is a process of its own and loads the model once, so this is paid per run.
The bench loads the GGUF (which writes the copy), then the copy `--rounds` times, and checks that
the weights are equal bit for bit.

    python bench/model_load.py --rounds 3 --json out.json
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch
from benchlib import environment, write_json

from hipbench.models import default_model_file, load_model


def timed_load() -> tuple[float, torch.nn.Module]:
    start = time.perf_counter()
    loaded = load_model("smollm2-135m")
    return time.perf_counter() - start, loaded.model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="loads of the cached copy (median reported)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    os.environ["HIPBENCH_MODEL_FILE"] = str(default_model_file())  # the verified GGUF, wherever it is cached
    with tempfile.TemporaryDirectory() as cache:
        os.environ["HIPBENCH_CACHE"] = cache
        gguf_seconds, reference = timed_load()
        cached = []
        for _ in range(args.rounds):
            seconds, model = timed_load()
            cached.append(seconds)
            assert all(torch.equal(a, b) for a, b in zip(reference.state_dict().values(), model.state_dict().values()))
    median = statistics.median(cached)
    report = {"bench": "model_load", "environment": environment(torch.device("cpu")), "gguf_seconds": gguf_seconds,
              "cached_seconds": cached, "cached_median_seconds": median, "speedup": gguf_seconds / median}
    print(f"smollm2-135m: GGUF read and dequantized {gguf_seconds:.1f} s (writes the copy); "
          f"the copy {median:.2f} s (median of {args.rounds}); {gguf_seconds / median:.0f}x; weights equal")
    write_json(args.json, report)


if __name__ == "__main__":
    main()
