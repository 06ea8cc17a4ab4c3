"""Print, comma-separated, the methods whose chosen settings (run and options) differ between two
tuned.json files (the second's methods only); prints nothing when none moved."""
import json
import sys
old, new = (json.load(open(p)) for p in sys.argv[1:3])
moved = [m for m, e in new.items() if m not in old or (old[m]["run"], old[m]["options"]) != (e["run"], e["options"])]
print(",".join(moved))
