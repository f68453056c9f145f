"""What one training step of each campaign run costs: FLOPs, saved activations and parameter state, at 64 and 128 px.

    python benchmarks/campaign_cost.py            # writes benchmarks/campaign_cost.json, prints a table

For every family of the default campaign plan (gan_lab.campaign.default_plan: the families' default
nets, 3 channels) and both sizes, one training step (``n_critic`` discriminator updates, then one
generator update) runs on the CPU under a dispatch mode that adds up PyTorch's own FLOP formulas
(``torch.utils.flop_counter.flop_registry``, what ``FlopCounterMode`` uses; that mode itself cannot run
a gradient penalty's ``autograd.grad``), and the
tensors autograd saves for the backward passes are summed (``saved_tensors_hooks``, each storage
once, the largest over the updates of a step). To keep the CPU cost small the step is run at batch 2, 4 and 6 and the count at the plan's
batch 64 is the quadratic through those three points: FLOPs and saved bytes of these nets are a
polynomial of degree <= 2 in the batch size (linear everywhere; minibatch discrimination adds a
B^2 term), so the fit is exact, not an approximation. ``state_bytes`` is every trainable parameter's
weight, gradient and two Adam moments (4 x 4 bytes) plus frozen copies (4 bytes).

The file also carries the H100 rates measured by benchmarks/gpu_check.sh at 64 px, batch 64, fp32
(benchmarks/README.md, "One GPU"), which the CelebA chapter combines with these counts.
"""
from __future__ import annotations

import fcntl
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gan_lab import campaign  # noqa: E402
from gan_lab.models import get_family  # noqa: E402
from gan_lab.utils import seed_everything  # noqa: E402

#: benchmarks/README.md, "One GPU (gpu_check.sh, measured on one NVIDIA H100 80GB, torch 2.11 + CUDA 13.0)":
#: every family at 64 px, batch 64, fp32: real images consumed per second and peak MiB.
H100_64PX_FP32 = {
    "vanilla": (30196, 423), "dcgan": (20422, 2854), "wgan-gp": (5664, 414), "vaegan": (6093, 1507),
    "improved-dcgan": (13591, 360), "dnfm": (6754, 459),
}
BATCHES = (2, 4, 6)


class CountFlops(TorchDispatchMode):
    """Every operator PyTorch has a FLOP formula for (matmuls, convolutions and their backward passes)."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def one_step(model, batch: int, size: int) -> tuple[float, float]:
    """(FLOPs, saved bytes) of one training step of ``model`` on random images of ``batch`` x 3 x size x size.

    Saved bytes: the tensors autograd keeps for one backward pass (each storage once, parameters
    left out), the largest over the updates of the step (each ``model.optimize`` call ends one graph;
    a family that calls ``backward`` itself has its graphs counted together, an upper bound).
    """
    x = torch.rand(batch * (model.config.n_critic + 1), 3, size, size) * 2 - 1
    seen: dict[int, int] = {}
    peak = [0]
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}    # counted in state_bytes

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in weights:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    optimize = model.optimize

    def counted(*args, **kwargs):
        peak[0] = max(peak[0], sum(seen.values()))
        seen.clear()
        return optimize(*args, **kwargs)

    model.optimize = counted
    counter = CountFlops()
    try:
        with counter, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model.begin_step(0)
            for i in range(model.config.n_critic):
                model.d_step(x[i * batch:(i + 1) * batch])
            model.g_step(x[-batch:])
    finally:
        del model.optimize
    return float(counter.total), float(peak[0])


def at_batch(values: list[float], batch: int) -> float:
    """The quadratic through (BATCHES[i], values[i]) evaluated at ``batch``."""
    return float(np.polyval(np.polyfit(BATCHES, values, 2), batch))


def main() -> None:
    """``campaign_cost.py [FAMILY ...]``: all families of the default plan, or only those named; each
    family's entry is added to benchmarks/campaign_cost.json as soon as it is counted."""
    torch.set_num_threads(1)
    plan = campaign.default_plan()
    path = ROOT / "benchmarks" / "campaign_cost.json"
    print(f"{'family':16s} {'size':>4s} {'GFLOP/step':>11s} {'saved MiB':>10s} {'state MiB':>10s}")
    for family in sys.argv[1:] or plan.families:
        entry = {"flops_per_step": {}, "saved_bytes_per_step": {}, "state_bytes": {}}
        for size in plan.sizes:
            seed_everything(0)
            config = plan.model_config(campaign.RunSpec(family, size, 0, 1))
            model = get_family(family).Model(config)
            flops, saved = zip(*(one_step(model, b, size) for b in BATCHES))
            state = sum(p.numel() * (16 if p.requires_grad else 4) for p in model.parameters())
            entry["flops_per_step"][str(size)] = at_batch(list(flops), plan.batch_size)
            entry["saved_bytes_per_step"][str(size)] = at_batch(list(saved), plan.batch_size)
            entry["state_bytes"][str(size)] = state
            entry["images_per_step"] = (config.n_critic + config.g_steps) * plan.batch_size
            print(f"{family:16s} {size:4d} {entry['flops_per_step'][str(size)] / 1e9:11.1f} "
                  f"{entry['saved_bytes_per_step'][str(size)] / 2**20:10.0f} {state / 2**20:10.1f}", flush=True)
        entry["h100_fp32_img_per_s_64"], entry["h100_fp32_peak_mib_64"] = H100_64PX_FP32[family]
        with open(path, "a+") as fh:                  # several processes may count families side by side
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            text = fh.read()
            out = json.loads(text) if text.strip() else {"batch_size": plan.batch_size, "families": {}}
            out["families"][family] = entry
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps(out, indent=1) + "\n")
        print(f"{family} written to {path}", flush=True)


if __name__ == "__main__":
    main()
