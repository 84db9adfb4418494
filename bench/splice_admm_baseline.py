"""SpLiCE's own GPU algorithm as a baseline, on the same problem as bench_solvers.

SpLiCE's ADMM factors the c x c matrix 2 C C^T + rho I once (Cholesky, rho = 5)
and runs every row of the batch until the largest primal residual is below 1e-6,
at most 2000 iterations. This script implements that algorithm in torch and
prints rows/s and the objectives, so the ratio to concise's GPU solver is taken on
the same device and the same rows. It needs torch with CUDA (or runs on the CPU).

    python bench/splice_admm_baseline.py --concepts 10000 --dim 512 --rows 2000
"""
import argparse
import time

import numpy as np
import torch


def make_problem(c, d, n, seed=0):
    """The correlated synthetic dictionary of bench_vs_sklearn.py, and sparse mixtures."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(32, d))
    text = 4.0 * rng.normal(size=d) + rng.normal(size=(c, 32)) @ basis * 0.5 + rng.normal(size=(c, d))
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    text -= text.mean(axis=0)
    atoms = text / np.linalg.norm(text, axis=1, keepdims=True)
    picks = rng.integers(0, c, size=(n, 6))
    rows = (rng.uniform(0.2, 1.0, size=(n, 6, 1)) * atoms[picks]).sum(axis=1) + 0.6 * rng.normal(size=(n, d)) / np.sqrt(d)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return atoms.astype(np.float32), rows.astype(np.float32)


def splice_admm(atoms, z, l1, rho=5.0, tol=1e-6, max_iter=2000):
    """SpLiCE's batched ADMM: x-update by the c x c Cholesky factor, all rows until the worst converges."""
    c = atoms.shape[0]
    factor = torch.linalg.cholesky(2 * atoms @ atoms.T + rho * torch.eye(c, device=atoms.device))
    b = 2 * z @ atoms.T
    w = torch.zeros_like(b)
    u = torch.zeros_like(b)
    for it in range(1, max_iter + 1):
        x = torch.cholesky_solve((b + rho * (w - u)).T, factor).T
        w = torch.clamp(x + u - l1 / rho, min=0)
        u = u + x - w
        if torch.max(torch.linalg.norm(x - w, dim=1)) < tol:
            break
    return w, it


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concepts", type=int, default=10000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--l1", type=float, default=0.25)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    atoms_np, z_np = make_problem(args.concepts, args.dim, args.rows)
    atoms = torch.from_numpy(atoms_np).to(args.device)
    z = torch.from_numpy(z_np).to(args.device)
    splice_admm(atoms, z[:8], args.l1, max_iter=5)  # warm-up
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    w, iterations = splice_admm(atoms, z, args.l1)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    r = z.double() - w.double() @ atoms.double()
    objective = (r * r).sum(dim=1) + args.l1 * w.double().sum(dim=1)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"SpLiCE ADMM (rho 5, tol 1e-6, <= 2000 iterations) on {name}: c={args.concepts} d={args.dim} "
          f"rows={args.rows}: {args.rows / seconds:.1f} rows/s ({iterations} iterations, {seconds:.2f} s), "
          f"mean objective {objective.mean().item():.6f}, mean l0 {(w > 0).sum(dim=1).float().mean().item():.1f}")


if __name__ == "__main__":
    main()
