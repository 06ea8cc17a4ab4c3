"""Run directories and atomic writes.

A run record is `config.json` (fully resolved config, versions, hardware, config hash),
`measurements.jsonl` (one line per evaluation, appended and flushed as it happens) and
`metrics.json` (final metrics and a status). `metrics.json` says "incomplete" from the moment a
run starts until it finishes, so a crash can never leave a record that looks complete.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

COMPLETE = "complete"
INCOMPLETE = "incomplete"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True, allow_nan=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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

    def status(self) -> str | None:
        if not self.metrics_path.is_file():
            return None
        try:
            return read_json(self.metrics_path).get("status")
        except (OSError, json.JSONDecodeError):
            return INCOMPLETE

    def start(self, config: dict) -> None:
        """Begin (or restart) the run: earlier measurements of an incomplete run are kept aside."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.measurements_path.exists():
            os.replace(self.measurements_path, self.dir / "measurements.previous.jsonl")
        write_json_atomic(self.config_path, config)
        write_json_atomic(self.metrics_path, {"status": INCOMPLETE, "reason": "running"})

    def append(self, row: dict) -> None:
        with open(self.measurements_path, "a") as fh:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def measurements(self) -> list[dict]:
        if not self.measurements_path.is_file():
            return []
        with open(self.measurements_path) as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def finish(self, metrics: dict) -> None:
        write_json_atomic(self.metrics_path, {**metrics, "status": COMPLETE})

    def fail(self, reason: str, **details: Any) -> None:
        write_json_atomic(self.metrics_path, {"status": INCOMPLETE, "reason": reason, **details})
