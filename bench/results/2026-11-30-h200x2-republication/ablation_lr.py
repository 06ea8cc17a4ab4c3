"""Sets the ablation's learning rates from tuned.json: every HiP-LoRA row at HiP-LoRA's tuned lr, the
LoRA row at LoRA's (issue 20: the ablation varies budget, k and the principal channel, not the lr)."""
import json, sys
from pathlib import Path
tuned = json.loads(Path(sys.argv[1]).read_text())
path = Path(sys.argv[2]); text = path.read_text()
hip, lora = tuned["hiplora"]["run"]["lr"], tuned["lora"]["run"]["lr"]
assert "lr:" not in text
text = text.replace("{methods: [hiplora], options:", f"{{methods: [hiplora], lr: {hip}, options:")
text = text.replace("{methods: [lora]}", f"{{methods: [lora], lr: {lora}}}")
path.write_text(text); print("ablation lr: hiplora", hip, "lora", lora)
