"""The learned in-painter's network and training loop (PyTorch only; no radtrust imports, so this file
also runs on its own on a training machine: ``python3 _inpaint_net.py DATA.npz OUT.pt --steps N``).

A small U-Net (after the pix2pix generator of CT-GAN, Mirsky et al. 2019, without the adversary) takes a
patch with a hole (values zeroed) and the hole mask, and predicts the whole patch; training minimises the
L1 error inside the hole (plus a tenth of it outside). ``dims=3`` works on 32^3 CT cubes at 1 mm,
``dims=2`` on 64^2 radiograph patches. Holes are random ellipsoids/ellipses drawn per batch.
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

CUBE, PATCH = 32, 64


class UNet(nn.Module):
    """Two-level U-Net with a dilated bottleneck; ``dims`` 2 or 3; input (masked patch, mask)."""

    def __init__(self, dims: int = 3, width: int = 16) -> None:
        super().__init__()
        Conv = nn.Conv3d if dims == 3 else nn.Conv2d
        Norm = nn.InstanceNorm3d if dims == 3 else nn.InstanceNorm2d
        self.dims = dims

        def block(cin: int, cout: int, dil: int = 1) -> nn.Sequential:
            return nn.Sequential(Conv(cin, cout, 3, padding=dil, dilation=dil), Norm(cout, affine=True), nn.SiLU(),
                                 Conv(cout, cout, 3, padding=1), Norm(cout, affine=True), nn.SiLU())

        w = width
        self.e1, self.e2, self.e3 = block(2, w), block(w, 2 * w), block(2 * w, 4 * w)
        self.mid = nn.Sequential(block(4 * w, 4 * w, 2), block(4 * w, 4 * w, 4))
        self.d2, self.d1 = block(6 * w, 2 * w), block(3 * w, w)
        self.out = Conv(w, 1, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pool = F.max_pool3d if self.dims == 3 else F.max_pool2d
        mode = "trilinear" if self.dims == 3 else "bilinear"
        inp = torch.cat([x * (1 - mask), mask], dim=1)
        a = self.e1(inp)
        b = self.e2(pool(a, 2))
        c = self.mid(self.e3(pool(b, 2)))
        u = F.interpolate(c, scale_factor=2, mode=mode, align_corners=False)
        u = self.d2(torch.cat([u, b], 1))
        u = F.interpolate(u, scale_factor=2, mode=mode, align_corners=False)
        u = self.d1(torch.cat([u, a], 1))
        return x * (1 - mask) + self.out(u) * mask


def random_holes(n: int, dims: int, size: int, gen: torch.Generator, device: str) -> torch.Tensor:
    """Random ellipsoid/ellipse holes, radii 2-10 (3D) or 3-20 (2D) voxels, near the centre: (n, 1, ...)."""
    lo, hi = (2.0, 10.0) if dims == 3 else (3.0, 20.0)
    ax = torch.arange(size, device=device, dtype=torch.float32)
    grids = torch.meshgrid(*([ax] * dims), indexing="ij")
    centre = size / 2 + (torch.rand(n, dims, generator=gen, device=device) - 0.5) * size * 0.25
    radii = lo + torch.rand(n, dims, generator=gen, device=device) * (hi - lo)
    d = sum(((g[None] - centre[:, i].view(-1, *[1] * dims)) / radii[:, i].view(-1, *[1] * dims)) ** 2
            for i, g in enumerate(grids))
    return (d <= 1.0).float().unsqueeze(1)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    for ax in range(2, x.ndim):
        if torch.rand(1, generator=gen, device=x.device).item() < 0.5:
            x = torch.flip(x, dims=[ax])
    return x


def train(samples: np.ndarray, dims: int, *, steps: int, batch: int, seed: int, device: str = "cpu",
          width: int = 16, lr: float = 2e-3, log_every: int = 200) -> tuple[nn.Module, list[float]]:
    """Train on normalised patches (n, size, size[, size]) float32; returns the model (on cpu) and the losses."""
    torch.manual_seed(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    data = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)).to(device).unsqueeze(1)
    model = UNet(dims, width).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    losses: list[float] = []
    t0 = time.time()
    for step in range(steps):
        idx = torch.randint(0, data.shape[0], (batch,), generator=gen, device=device)
        x = augment(data[idx], gen)
        m = random_holes(batch, dims, x.shape[-1], gen, device)
        y = model(x, m)
        err = (y - x).abs()
        loss = (err * m).sum() / m.sum().clamp(min=1) + 0.1 * err.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if log_every and (step + 1) % log_every == 0:
            print(f"dims={dims} step {step + 1}/{steps} loss {np.mean(losses[-log_every:]):.4f} "
                  f"({time.time() - t0:.0f} s)", flush=True)
    return model.cpu().eval(), losses


def state_bytes(models: dict[str, nn.Module], meta: dict) -> bytes:
    """Half-precision weights of both models plus metadata, as one torch file."""
    buf = io.BytesIO()
    torch.save({"meta": meta, **{k: {n: t.half() for n, t in m.state_dict().items()} for k, m in models.items()}}, buf)
    return buf.getvalue()


def load_models(blob: bytes | str) -> tuple[dict[str, nn.Module], dict]:
    src = io.BytesIO(blob) if isinstance(blob, bytes) else blob
    state = torch.load(src, map_location="cpu", weights_only=True)
    meta = state["meta"]
    models = {}
    for key, dims in (("ct", 3), ("xr", 2)):
        if key in state:
            m = UNet(dims, int(meta.get("width", 16)))
            m.load_state_dict({n: t.float() for n, t in state[key].items()})
            models[key] = m.eval()
    return models, meta


def train_all(data: dict[str, np.ndarray], *, steps: int, seed: int, device: str, batch3d: int, batch2d: int,
              width: int = 16) -> tuple[bytes, dict]:
    models, report = {}, {}
    for key, dims, batch in (("ct", 3, batch3d), ("xr", 2, batch2d)):
        if key in data and len(data[key]):
            t0 = time.time()
            models[key], losses = train(data[key], dims, steps=steps, batch=batch, seed=seed, device=device, width=width)
            report[key] = {"samples": int(len(data[key])), "final_loss": round(float(np.mean(losses[-100:])), 5),
                           "seconds": round(time.time() - t0, 1)}
    meta = {"width": width, "steps": steps, "seed": seed, "device": device, "batch": [batch3d, batch2d],
            "train": report, "torch": str(torch.__version__)}
    return state_bytes(models, meta), meta


def main() -> None:
    p = argparse.ArgumentParser(description="train the radtrust in-painter from a prepared .npz")
    p.add_argument("data")
    p.add_argument("out")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch3d", type=int, default=32)
    p.add_argument("--batch2d", type=int, default=64)
    a = p.parse_args()
    with np.load(a.data) as z:
        data = {k: z[k].astype(np.float32) for k in z.files}
    blob, meta = train_all(data, steps=a.steps, seed=a.seed, device=a.device, batch3d=a.batch3d, batch2d=a.batch2d)
    with open(a.out, "wb") as fh:
        fh.write(blob)
    print(meta)


if __name__ == "__main__":
    main()
