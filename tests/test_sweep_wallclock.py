"""bench/sweep_wallclock.py: overlapping runs form one batch; the sweep's time is the batches' sum."""
import json
from pathlib import Path

from conftest import load_module

sweep_wallclock = load_module(Path(__file__).parents[1] / "bench" / "sweep_wallclock.py")


def _record(root: Path, name: str, started: str, finished: str, status: str = "complete") -> None:
    run = root / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"started": started, "environment": {"hardware": "GPU X"}}))
    (run / "metrics.json").write_text(json.dumps({"status": status, "finished": finished}))


def test_chained_overlaps_are_one_batch_and_gaps_are_not_counted(tmp_path, capsys, monkeypatch):
    _record(tmp_path, "lora/seed-1-a", "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z")
    _record(tmp_path, "lora/seed-2-b", "2026-01-01T00:04:00Z", "2026-01-01T00:10:00Z")  # overlaps the first
    _record(tmp_path, "pissa/seed-1-c", "2026-01-01T01:00:00Z", "2026-01-01T01:03:00Z")  # after an idle hour
    _record(tmp_path, "pissa/seed-2-d", "2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z", status="incomplete")
    groups = sweep_wallclock.batches(sweep_wallclock.spans(tmp_path))
    assert [len(g) for g in groups] == [2, 1]
    monkeypatch.setattr("sys.argv", ["sweep_wallclock", str(tmp_path)])
    sweep_wallclock.main()
    assert "total: 3 runs in 13.0 min of batch wall-clock on GPU X" in capsys.readouterr().out
