"""Print a sweep file holding only the groups of SWEEP.yaml with num_edits N, restricted to METHODS."""
import sys
import yaml
path, num_edits, methods = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
data = yaml.safe_load(open(path))
runs = []
for group in data["runs"]:
    keep = [m for m in group.get("methods", data["defaults"].get("methods", [])) if m in methods]
    if group.get("num_edits") == num_edits and keep:
        runs.append({**group, "methods": keep})
print(yaml.safe_dump({"defaults": data["defaults"], "runs": runs}, sort_keys=False))
