"""Accuracy of the top-k singular basis by SVD driver and precision, on the default model's real weights.

Why it exists: on CUDA, torch.linalg.svd in fp32 with the default (Jacobi) driver rotated the
top-32 basis of SmolLM2 weights by up to 1e-2 inside near-degenerate singular pairs, enough to
break an independent check of HiP-LoRA's invariants; hipbench's cache therefore computes in fp64.
Prints, per matrix, max |basis - fp64 CPU basis| (up to sign) and max |projector difference|.
Run on the device: python bench/svd_accuracy.py   (results: leaderboards/checks/svd-accuracy-h100.txt)
"""
import torch
from hipbench.models import load_model
m = load_model("smollm2-135m").model
k = 32
for name in ["model.layers.1.self_attn.o_proj", "model.layers.0.mlp.up_proj", "model.layers.0.self_attn.v_proj",
             "model.layers.9.self_attn.q_proj", "model.layers.20.mlp.down_proj"]:
    w = m.get_submodule(name).weight.detach()
    u64, _, _ = torch.linalg.svd(w.double(), full_matrices=False)
    ref = u64[:, :k]
    out = []
    for label, fn in [("cuda fp32 default", lambda x: torch.linalg.svd(x.cuda().float(), full_matrices=False)),
                      ("cuda fp32 gesvd", lambda x: torch.linalg.svd(x.cuda().float(), full_matrices=False, driver="gesvd")),
                      ("cuda fp64 gesvd", lambda x: torch.linalg.svd(x.cuda().double(), full_matrices=False, driver="gesvd")),
                      ("cpu fp32", lambda x: torch.linalg.svd(x.float(), full_matrices=False))]:
        u = fn(w)[0][:, :k].double().cpu()
        basis = float(((u.T @ ref).abs() - torch.eye(k, dtype=torch.float64)).abs().max())
        proj = float((u @ u.T - ref @ ref.T).abs().max())
        out.append(f"{label}: basis {basis:.1e} projector {proj:.1e}")
    print(name, " | ".join(out))
