"""Run directories and atomic writes.

A run record is `config.json` (fully resolved config, versions, hardware, config hash),
`measurements.jsonl` (one line per evaluation, appended and flushed as it happens) and
`metrics.json` (final metrics and a status). `metrics.json` says "incomplete" from the moment a
run starts until it finishes, so a crash can never leave a record that looks complete.

A finished record keeps its rows gzip-compressed, `measurements.jsonl.gz` (no name or time in the
gzip header, so the same rows give the same bytes): a sequential-editing record holds one row per
scored request and edit, about 0.5 MB at 100 edits and growing with the square of the edit count,
and published records travel with the repository. Rows are appended to the plain file while a run
is going (a torn last line must stay readable), and compressed once nothing more is appended.
`read_measurements` reads either form. Plain gzip, not a columnar format: `zcat` and
`pandas.read_json(..., lines=True)` read it as they are.

A protocol that can resume (continual, sequential and single editing, merging) also keeps
`checkpoint.pt`: the state at the last finished boundary (a task, an edit, a merge instance),
replaced atomically at each boundary and removed when the run finishes (a complete record is never
resumed, so a kept checkpoint would only cost disk: for an 8B model's adapters and LaLoRA's
curvature it is hundreds of megabytes per run). Every checkpoint holds `rows`, the number of
measurement rows on disk when it was written: a resume keeps exactly those rows, whatever the
protocol's rows look like, and drops what the interrupted attempt measured after the boundary.

A finished record keeps the spectral diagnostics' per-layer detail (`by_layer`: each adapted
module's rotation drift and k', 210 modules for the default model) in `layers.json.gz` rather than
in `metrics.json`: a merging record holds four adapters' detail, 130 KB of its 188 KB, and every
published record travels with the repository. `metrics.json` keeps the means and per-type values
the tables read; `read_layers` gives the detail of either form (records before this inline it).

Measurement rows have one reader, `read_measurements`, strict or tolerant by the caller's explicit
choice: strict where metrics are computed from the rows (a silently lost row would move a metric),
tolerant where a kill may have cut the last append short (reading a record to resume it).
"""
from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

COMPLETE = "complete"
INCOMPLETE = "incomplete"


def _write_atomic(path: Path, write: Callable[[IO], None], mode: str = "w") -> None:
    """Write to a temporary file in the same directory, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    _write_atomic(path, lambda fh: fh.write(json.dumps(data, indent=2, sort_keys=True, allow_nan=True) + "\n"))


def write_rows_atomic(path: Path, rows: list[dict]) -> None:
    _write_atomic(path, lambda fh: fh.writelines(json.dumps(row, sort_keys=True) + "\n" for row in rows))


def write_gzip_atomic(path: Path, data: bytes) -> None:
    """`data` gzip-compressed, atomically; the same bytes for the same data (no name or time in the
    header), so a finished record written again changes no byte."""
    _write_atomic(path, lambda fh: fh.write(gzip.compress(data, mtime=0)), mode="wb")


def write_torch_atomic(path: Path, data: dict) -> None:
    """`torch.save` of plain dicts/lists of tensors and primitives, read back with `weights_only=True`
    (no pickled objects, so loading a checkpoint cannot run code)."""
    import torch

    _write_atomic(path, lambda fh: torch.save(data, fh), mode="wb")


def read_measurements(path: Path, *, strict: bool) -> list[dict]:
    """The rows of a `measurements.jsonl` (none when the file is absent); blank lines are skipped.

    `strict`: every line must parse, else ValueError names the file and line; for computing
    metrics, where a row lost without a word would change a number. Not strict: the rows before
    the first unreadable line; for a record a kill interrupted, whose last append may be cut short
    (appends are flushed and fsynced one by one, so only the last line can be torn)."""
    rows: list[dict] = []
    packed = compressed_path(path)
    if not path.is_file() and packed.is_file():
        path = packed
    if not path.is_file():
        return rows
    with (gzip.open(path, "rt") if path == packed else open(path)) as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                if strict:
                    raise ValueError(f"{path}, line {number}: unreadable measurement row ({error.msg})") from error
                break
    return rows


LAYERS_FILE = "layers.json.gz"


def split_layers(metrics: dict) -> tuple[dict, dict]:
    """(`metrics` without the per-layer spectral detail, that detail): {"spectral": by_layer} for a
    run's own diagnostics, {"adapters": [by_layer, ...]} for a merging record's single-task
    adapters, in their order; empty when there is none. `metrics` itself is left as it is."""
    detail: dict = {}
    spectral = metrics.get("spectral")
    if isinstance(spectral, dict) and "by_layer" in spectral:
        detail["spectral"] = spectral["by_layer"]
        metrics = {**metrics, "spectral": {k: v for k, v in spectral.items() if k != "by_layer"}}
    adapters = metrics.get("adapters")
    if isinstance(adapters, list) and any("by_layer" in entry.get("spectral", {}) for entry in adapters):
        detail["adapters"] = [entry["spectral"].get("by_layer", {}) for entry in adapters]
        metrics = {**metrics, "adapters": [
            {**entry, "spectral": {k: v for k, v in entry["spectral"].items() if k != "by_layer"}}
            for entry in adapters]}
    return metrics, detail


def write_layers(directory: Path, detail: dict) -> None:
    write_gzip_atomic(directory / LAYERS_FILE, json.dumps(detail, sort_keys=True, allow_nan=True).encode())


def read_layers(directory: Path) -> dict:
    """The per-layer spectral detail of the record in `directory` (`split_layers`' form), from
    `layers.json.gz` or, in records made before it, from `metrics.json` itself."""
    packed = Path(directory) / LAYERS_FILE
    if packed.is_file():
        with gzip.open(packed, "rt") as fh:
            return json.load(fh)
    return split_layers(read_json(Path(directory) / "metrics.json"))[1]


def move_layers_out(directory: Path) -> bool:
    """Give a complete record made before `layers.json.gz` the layout `RunRecord.finish` writes now,
    losing nothing: the per-layer detail moves to the side file, and a merging record's
    `spectral_by_task` (records of 2026-11-30: a second copy of its adapters' diagnostics) is dropped
    only where it equals them. True when the record was rewritten. Refuses a metrics.json that the
    writer would not give back byte for byte, so no other byte of a record can change."""
    path = Path(directory) / "metrics.json"
    original = path.read_text()
    metrics = json.loads(original)
    if json.dumps(metrics, indent=2, sort_keys=True, allow_nan=True) + "\n" != original:
        raise ValueError(f"{path}: not as hipbench writes it; left as it is")
    if metrics.get("status") != COMPLETE or (Path(directory) / LAYERS_FILE).exists():
        return False
    copies = metrics.get("spectral_by_task")
    if copies is not None:
        if copies != {entry["task"]: entry["spectral"] for entry in metrics.get("adapters", [])}:
            raise ValueError(f"{path}: spectral_by_task differs from the adapters' diagnostics; left as it is")
        metrics = {k: v for k, v in metrics.items() if k != "spectral_by_task"}
    metrics, layers = split_layers(metrics)
    if not layers and copies is None:
        return False
    if layers:
        write_layers(Path(directory), layers)
    write_json_atomic(path, metrics)
    return True


def compressed_path(path: Path) -> Path:
    """Where a finished record keeps the rows of `path` (module docstring)."""
    return path.with_name(path.name + ".gz")


def compress_rows(path: Path) -> None:
    """Replace `path` by its gzip form, atomically; a kill in between leaves both, which hold the
    same rows (the plain file is read first)."""
    write_gzip_atomic(compressed_path(path), path.read_bytes())
    path.unlink()


def read_json(path: Path) -> Any:
    with open(path) as fh:
        return json.load(fh)


class RunRecord:
    """One (suite, model, method, seed, config) run on disk."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    @property
    def config_path(self) -> Path:
        return self.dir / "config.json"

    @property
    def metrics_path(self) -> Path:
        return self.dir / "metrics.json"

    @property
    def measurements_path(self) -> Path:
        return self.dir / "measurements.jsonl"

    @property
    def previous_measurements_path(self) -> Path:
        return self.dir / "measurements.previous.jsonl"

    @property
    def checkpoint_path(self) -> Path:
        return self.dir / "checkpoint.pt"

    def status(self) -> str | None:
        if not self.metrics_path.is_file():
            return None
        try:
            return read_json(self.metrics_path).get("status")
        except (OSError, json.JSONDecodeError):
            return INCOMPLETE

    def start(self, config: dict) -> None:
        """Begin (or restart) the run: earlier measurements of an incomplete run are kept aside, and
        a checkpoint of theirs is dropped (a restart must not resume from it later)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.measurements_path.exists():
            os.replace(self.measurements_path, self.previous_measurements_path)
        elif compressed_path(self.measurements_path).exists():  # a finished record run again
            os.replace(compressed_path(self.measurements_path), compressed_path(self.previous_measurements_path))
        self.checkpoint_path.unlink(missing_ok=True)
        (self.dir / LAYERS_FILE).unlink(missing_ok=True)  # a finished record run again writes its own
        write_json_atomic(self.config_path, config)
        write_json_atomic(self.metrics_path, {"status": INCOMPLETE, "reason": "running"})

    def resume(self, config: dict, rows: int, at: dict) -> None:
        """Continue an interrupted run from its checkpoint, which vouches for the first `rows`
        measurement rows; `at` says where the checkpoint stands (`{"after_task": 2}`).

        Those rows are kept; the interrupted run's full file goes aside to
        measurements.previous.jsonl, as `start` does, so nothing measured is lost. Both files are
        replaced atomically, the kept rows last: a kill in between leaves the original file in
        place and the next resume does the same again. config.json keeps the original run's config
        (its hash names this directory) and gains one `resumed` entry per resume, with the
        environment that resumed it."""
        readable = self.measurements(strict=False)
        write_rows_atomic(self.previous_measurements_path, readable)
        write_rows_atomic(self.measurements_path, readable[:rows])
        original = read_json(self.config_path)
        original.setdefault("resumed", []).append(
            {**at, "started": config.get("started"), "environment": config.get("environment")})
        write_json_atomic(self.config_path, original)
        write_json_atomic(self.metrics_path, {"status": INCOMPLETE, "reason": "running"})

    def save_checkpoint(self, state: dict) -> None:
        """Replace the checkpoint by `state`, stamped with the number of measurement rows now on
        disk (`rows`): the rows that belong to it, whatever the protocol's rows look like."""
        write_torch_atomic(self.checkpoint_path, {**state, "rows": len(self.measurements())})

    def load_checkpoint(self) -> dict | None:
        """The last checkpoint, or None when there is none or it cannot be read safely, or when
        fewer readable rows are on disk than it vouches for (then the run starts again from
        scratch, as before checkpoints existed)."""
        import torch

        if not self.checkpoint_path.is_file() or not self.config_path.is_file():
            return None
        try:
            state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        except Exception:
            return None
        if "rows" in state and len(self.measurements(strict=False)) < state["rows"]:
            return None
        return state

    def append(self, row: dict) -> None:
        with open(self.measurements_path, "a") as fh:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def measurements(self, strict: bool = True) -> list[dict]:
        """This record's measurement rows (`read_measurements`); strict unless told otherwise."""
        return read_measurements(self.measurements_path, strict=strict)

    def finish(self, metrics: dict) -> None:
        metrics, layers = split_layers(metrics)
        if layers:  # before metrics.json says complete, so a complete record never lacks it
            write_layers(self.dir, layers)
        write_json_atomic(self.metrics_path, {**metrics, "status": COMPLETE})
        self.checkpoint_path.unlink(missing_ok=True)  # a complete record is skipped, never resumed
        if self.measurements_path.is_file():  # nothing is appended any more (module docstring)
            compress_rows(self.measurements_path)

    def fail(self, reason: str, **details: Any) -> None:
        write_json_atomic(self.metrics_path, {"status": INCOMPLETE, "reason": reason, **details})
