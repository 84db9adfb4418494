"""SpLiCE's own GPU algorithm as a baseline, on the same problem as bench_solvers.

SpLiCE's ADMM factors the c x c matrix 2 C C^T + rho I once (Cholesky, rho = 5)
and runs every row of the batch until the largest primal residual is below 1e-6,
at most 2000 iterations. This script implements that algorithm in torch, times the
factorization and at most --iters iterations (so that a run fits a short time limit),
and prints progress as it goes (each line flushed), then:

  * the time per iteration, and the iteration at which the batch converged, or that it
    had not by --iters (with the residual's decay and an estimate of the iterations
    to go, which is not a measurement);
  * rows/s = rows / (setup + iterations x time per iteration), the rate SpLiCE's code
    would give on these rows: measured when the batch converged within --iters; else
    "at most" the rate at --iters (it needs more) and the rate at SpLiCE's cap of 2000.

The last line, "SpLiCE ADMM result: [at most] R rows/s ...", is what gpu_summary.py
reads: the ratio to concise's GPU solver is taken on the same device and problem.
It needs torch (with CUDA, or it runs on the CPU).

    python bench/splice_admm_baseline.py --concepts 10000 --dim 512 --rows 4096 --iters 150
"""
import argparse
import math
import time

import numpy as np
import torch

SPLICE_MAX_ITER = 2000


def say(*args):
    print(*args, flush=True)


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


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def factor(atoms, rho):
    c = atoms.shape[0]
    return torch.linalg.cholesky(2 * atoms @ atoms.T + rho * torch.eye(c, device=atoms.device))


def splice_admm(atoms, z, l1, chol, rho=5.0, tol=1e-6, max_iter=SPLICE_MAX_ITER, on_iteration=None):
    """SpLiCE's batched ADMM: x-update by the c x c Cholesky factor, all rows until the worst converges.

    Returns (w, iterations run, converged, worst residual per iteration)."""
    b = 2 * z @ atoms.T
    w = torch.zeros_like(b)
    u = torch.zeros_like(b)
    residuals = []
    for it in range(1, max_iter + 1):
        x = torch.cholesky_solve((b + rho * (w - u)).T, chol).T
        w = torch.clamp(x + u - l1 / rho, min=0)
        u = u + x - w
        worst = torch.max(torch.linalg.norm(x - w, dim=1)).item()  # SpLiCE's test, a sync per iteration
        residuals.append(worst)
        if on_iteration is not None:
            on_iteration(it, worst)
        if worst < tol:
            return w, it, True, residuals
    return w, max_iter, False, residuals


def iterations_to_go(residuals, tol):
    """From the residual's geometric decay over the last half of the iterations: an estimate."""
    if len(residuals) < 20:
        return None, None
    tail = residuals[len(residuals) // 2:]
    if tail[0] <= 0 or tail[-1] <= 0:
        return None, None
    rate = (tail[-1] / tail[0]) ** (1.0 / (len(tail) - 1))
    if rate >= 1.0:
        return rate, None
    return rate, math.ceil(math.log(tol / tail[-1]) / math.log(rate))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concepts", type=int, default=10000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--l1", type=float, default=0.25)
    ap.add_argument("--iters", type=int, default=150, help="iterations timed at most (SpLiCE's own cap is 2000)")
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--progress", type=int, default=10, help="a progress line every this many iterations")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    rho = 5.0
    started = time.perf_counter()
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    say(f"SpLiCE ADMM baseline on {name}: c={args.concepts} d={args.dim} rows={args.rows} l1={args.l1} "
        f"rho={rho} tol={args.tol}, at most {args.iters} iterations timed")
    atoms_np, z_np = make_problem(args.concepts, args.dim, args.rows)
    atoms = torch.from_numpy(atoms_np).to(args.device)
    z = torch.from_numpy(z_np).to(args.device)
    sync(args.device)
    say(f"problem made in {time.perf_counter() - started:.1f} s")
    # Warm-up: the factorization and a few iterations on a few rows (kernels, workspaces).
    splice_admm(atoms, z[:8], args.l1, factor(atoms, rho), rho=rho, tol=args.tol, max_iter=5)
    sync(args.device)

    start = time.perf_counter()
    chol = factor(atoms, rho)
    sync(args.device)
    setup = time.perf_counter() - start
    say(f"setup (2 C C^T + rho I and its Cholesky factor): {setup:.3f} s")

    timed_start = time.perf_counter()

    def progress(it, worst):
        if it % args.progress == 0 or it == 1:
            per = (time.perf_counter() - timed_start) / it
            say(f"iteration {it}: worst residual {worst:.3e}, {per * 1e3:.2f} ms/iteration, "
                f"{args.rows / (setup + it * per):.1f} rows/s if it stopped here")

    w, iterations, converged, residuals = splice_admm(atoms, z, args.l1, chol, rho=rho, tol=args.tol,
                                                      max_iter=args.iters, on_iteration=progress)
    sync(args.device)
    per_iteration = (time.perf_counter() - timed_start) / iterations
    r = z.double() - w.double() @ atoms.double()
    objective = (r * r).sum(dim=1) + args.l1 * w.double().sum(dim=1)
    say(f"time per iteration: {per_iteration * 1e3:.2f} ms over {iterations} iterations "
        f"({args.rows} rows, {per_iteration / args.rows * 1e6:.3f} us per row-iteration)")
    say(f"after {iterations} iterations: mean objective {objective.mean().item():.6f}, "
        f"mean l0 {(w > 0).sum(dim=1).float().mean().item():.1f}, worst residual {residuals[-1]:.3e}")

    def rate(its):
        return args.rows / (setup + its * per_iteration)

    if converged:
        say(f"converged after {iterations} iterations")
        say(f"SpLiCE ADMM result: {rate(iterations):.1f} rows/s (measured: converged after {iterations} iterations, "
            f"{setup + iterations * per_iteration:.2f} s)")
        return
    decay, to_go = iterations_to_go(residuals, args.tol)
    if to_go is not None:
        estimate = min(iterations + to_go, SPLICE_MAX_ITER)
        say(f"not converged within {iterations} iterations; the residual falls by {decay:.4f} per iteration "
            f"over the last {len(residuals) - len(residuals) // 2}, so about {iterations + to_go} in all "
            f"(an estimate; SpLiCE stops at {SPLICE_MAX_ITER}): about {rate(estimate):.1f} rows/s")
    else:
        say(f"not converged within {iterations} iterations; no decay of the residual to extrapolate")
    say(f"at SpLiCE's cap of {SPLICE_MAX_ITER} iterations: {rate(SPLICE_MAX_ITER):.1f} rows/s")
    say(f"SpLiCE ADMM result: at most {rate(iterations):.1f} rows/s (not converged within {iterations} iterations; "
        f"{rate(SPLICE_MAX_ITER):.1f} rows/s at {SPLICE_MAX_ITER})")


if __name__ == "__main__":
    main()
