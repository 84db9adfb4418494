"""concise against scikit-learn's Lasso(positive=True) on the same problem, side by side.

The problem (docs/DESIGN.md §5): c = 10000 concepts, d = 512, l1 = 0.25, 200 rows, a
correlated synthetic dictionary. scikit-learn runs one row at a time with
alpha = l1 / (2 d), as SpLiCE's default path does. concise runs its CLI on the
same rows twice: in-process through the Python module (the solve alone, like the
scikit-learn loop), and as the CLI (wall time of the whole command: start-up,
dictionary load, file I/O). The speed ratio is reported at equal objective: every
row's objective must agree within 1e-3.
"""
import argparse
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import scipy.sparse


def make_problem(c, d, n, seed):
    rng = np.random.default_rng(seed)
    rank = 32
    # CLIP-like text embeddings: a strong shared direction, a low-rank part and noise.
    basis = rng.normal(size=(rank, d))
    text = 4.0 * rng.normal(size=d) + rng.normal(size=(c, rank)) @ basis * 0.5 + rng.normal(size=(c, d))
    return rng, text.astype(np.float32)


def build_synthetic(concise_bin, tmp, c, d, n, seed=0):
    """The synthetic problem in tmp: dict.h5 (built by the CLI) and emb.npy, rows that are
    sparse mixtures of a few atoms plus noise, unit norm (no image mean). Returns (atoms, rows)."""
    rng, text = make_problem(c, d, n, seed)
    np.save(tmp / "text.npy", text)
    (tmp / "names.txt").write_text("".join(f"concept_{k}\n" for k in range(c)))
    subprocess.run([concise_bin, "dictionary", "build", "--embeddings", tmp / "text.npy", "--names",
                    tmp / "names.txt", "-o", tmp / "dict.h5"], check=True, capture_output=True)
    with h5py.File(tmp / "dict.h5") as f:
        atoms = f["atoms"][:]
    e = np.zeros((n, d), np.float64)
    for i in range(n):
        picks = rng.choice(c, size=6, replace=False)
        e[i] = rng.uniform(0.2, 1.0, size=6) @ atoms[picks] + 0.6 * rng.normal(size=d) / np.sqrt(d)
    z = (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32)
    np.save(tmp / "emb.npy", z)
    return atoms, z


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concise", default="build/tools/concise")
    ap.add_argument("--concepts", type=int, default=10000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--rows", type=int, default=200)
    ap.add_argument("--l1", type=float, default=0.25)
    ap.add_argument("--sklearn-rows", type=int, default=200, help="rows timed for scikit-learn (rate extrapolates)")
    ap.add_argument("--solvers", default="ws,fista,admm")
    ap.add_argument("--repeats", type=int, default=5, help="in-process solves timed per solver (best is reported)")
    args = ap.parse_args()
    from sklearn.linear_model import Lasso

    c, d, n, l1 = args.concepts, args.dim, args.rows, args.l1
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="concise-bench-"))
    atoms, z = build_synthetic(args.concise, tmp, c, d, n)
    z = z.astype(np.float32).astype(np.float64)
    atoms64 = atoms.astype(np.float64)

    def objective(w):
        r = z[: w.shape[0]] - w @ atoms64
        return (r * r).sum(axis=1) + l1 * w.sum(axis=1)

    ns = min(args.sklearn_rows, n)
    model = Lasso(alpha=l1 / (2 * d), positive=True, fit_intercept=False)
    ws = np.zeros((ns, c))
    t0 = time.perf_counter()
    for i in range(ns):
        model.fit(atoms.T, z[i].astype(np.float32))
        ws[i] = model.coef_
    sk_time = time.perf_counter() - t0
    sk_rate = ns / sk_time
    sk_obj = objective(ws)
    print(f"problem: c={c} d={d} rows={n} l1={l1}  (one synthetic correlated dictionary, seed 0)")
    print(f"scikit-learn Lasso(positive=True), one row at a time: {sk_rate:8.1f} rows/s "
          f"({ns} rows in {sk_time:.1f} s), mean l0 {np.mean((ws > 0).sum(1)):.1f}")

    import concise
    dictionary = concise.Dictionary.load(str(tmp / "dict.h5"))
    rows32 = np.ascontiguousarray(z, dtype=np.float32)
    for solver in args.solvers.split(","):
        decomposer = concise.Decomposer(dictionary, l1=l1, solver=solver, device="cpu")
        decomposer.decompose(rows32[:8], preprocess=False)  # warm-up
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            codes = decomposer.decompose(rows32, preprocess=False)
            best = min(best, time.perf_counter() - t0)
        rel = (objective(codes.toarray().astype(np.float64))[:ns] - sk_obj) / sk_obj
        in_process = n / best
        print(f"concise.Decomposer({solver!r}), in process: {in_process:8.1f} rows/s, ratio {in_process / sk_rate:6.1f}x  "
              f"(best of {args.repeats}; objective vs sklearn: max rel diff {np.abs(rel).max():.1e})")
        if np.abs(rel).max() > 1e-3:
            sys.exit(f"objective of solver {solver} differs from scikit-learn by more than 1e-3")

    for solver in args.solvers.split(","):
        out = tmp / f"codes_{solver}.h5"
        t0 = time.perf_counter()
        proc = subprocess.run([args.concise, "decompose", tmp / "emb.npy", "--dictionary", tmp / "dict.h5", "--l1",
                               str(l1), "--solver", solver, "--device", "cpu", "-q", "-o", out],
                              check=True, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        solve = float(re.search(r" in ([0-9.]+) s", proc.stdout).group(1))  # chunks read, solved and written
        with h5py.File(out) as f:
            g = f["codes"]
            w = scipy.sparse.csr_matrix((g["data"][:], g["indices"][:], g["indptr"][:]), shape=(n, c)).toarray()
        obj = objective(w.astype(np.float64))
        rel = (obj[:ns] - sk_obj) / sk_obj
        equal = np.abs(rel).max() <= 1e-3
        rate, solve_rate = n / wall, n / solve
        print(f"concise CLI --solver {solver:5s}: {solve_rate:8.1f} rows/s in its solve loop, ratio {solve_rate / sk_rate:6.1f}x "
              f"(whole process incl. start-up and dictionary load: {rate:7.1f} rows/s, {rate / sk_rate:5.1f}x)  objective vs sklearn: max rel diff {np.abs(rel).max():.1e}, "
              f"mean {rel.mean():+.1e} ({'equal within 1e-3' if equal else 'NOT EQUAL'})  mean l0 {np.mean((w > 0).sum(1)):.1f}")
        if not equal:
            sys.exit(f"objective of --solver {solver} differs from scikit-learn by more than 1e-3")


if __name__ == "__main__":
    main()
