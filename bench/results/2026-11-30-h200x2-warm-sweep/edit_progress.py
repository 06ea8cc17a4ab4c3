"""How far the two sequential `edit` runs at N = all got (issue 21's cost question), from their partial
records in edit-all-partial.tgz (unpacked; tar keeps each file's time of last write): requests edited,
seconds from the record's start to its last measurement row, and seconds per edit, including the
request filter and the base model's measurement that precede the first edit.
    tar -xzf edit-all-partial.tgz && python edit_progress.py edit-all
"""
import datetime
import json
import sys
from pathlib import Path

print("method\trequests selected\tedited\tseconds\tseconds per edit")
for record in sorted(Path(sys.argv[1]).glob("edit/*/*/*")):
    config = json.loads((record / "config.json").read_text())
    rows = [json.loads(line) for line in (record / "measurements.jsonl").read_text().splitlines()]
    selected = len(rows[0]["edits"])
    edited = 1 + max(row["edit"] for row in rows if row.get("stage") == "immediate")
    started = datetime.datetime.fromisoformat(config["started"].replace("Z", "+00:00")).timestamp()
    seconds = (record / "measurements.jsonl").stat().st_mtime - started
    print(f"{config['config']['method']}\t{selected}\t{edited}\t{seconds:.0f}\t{seconds / edited:.2f}")
