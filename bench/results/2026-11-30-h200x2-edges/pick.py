"""Print a sweep file with the groups of SWEEP.yaml that hold any of METHODS (restricted to them) and
match every KEY=VALUE filter; values after --set replace the kept groups' settings.
   pick.py SWEEP.yaml lora,olora num_edits=10 --set edit_mode=batch num_edits=100"""
import sys
import yaml
args = sys.argv[1:]
path, methods = args[0], args[1].split(",")
rest = args[2:]
sets = rest[rest.index("--set") + 1:] if "--set" in rest else []
filters = rest[:rest.index("--set")] if "--set" in rest else rest
pairs = lambda items: {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in items)}
data = yaml.safe_load(open(path))
runs = []
for group in data["runs"]:
    keep = [m for m in group.get("methods", data["defaults"].get("methods", [])) if m in methods]
    merged = {**data["defaults"], **group}
    if keep and all(merged.get(k) == v for k, v in pairs(filters).items()):
        runs.append({**group, **pairs(sets), "methods": keep})
if not runs:
    sys.exit(f"pick.py: no group of {path} holds {methods} with {filters}")
print(yaml.safe_dump({"defaults": data["defaults"], "runs": runs}, sort_keys=False))
