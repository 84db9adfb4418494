"""concise's dictionary learning against SPAMS trainDL and scikit-learn, side by side.

The problem: N training rows and H held-out rows, d = 512, sparse nonnegative
mixtures (8 of 1024 planted atoms, weights in [0.2, 1]) plus noise, unit norm; K
atoms to learn with lambda chosen so that codes have l0 around 10. Each method
learns online in mini-batches of the same size and is stopped after the same number
of passes; its clock runs only while it learns. After every segment of rows, its
dictionary is scored on the held-out rows by one common certified coder (concise's
lasso at the same lambda, atoms as the method left them), so all are judged by the
same objective, mean_i min_{w >= 0} ||z_i - D^T w||^2 + lambda sum(w).

Reported: each method's time and held-out objective per segment, and the time
concise needs to reach each baseline's final held-out objective (the speedup at
equal objective).

    SPAMS trainDL(posAlpha=True, numThreads=2, lambda1=lambda/2) (pip install spams-bin)
    scikit-learn MiniBatchDictionaryLearning(positive_code=True, alpha=lambda/2, fit_algorithm="cd")
"""
import argparse
import os
import time
import warnings

import numpy as np

import concise


def make_rows(n, d, planted, active, seed):
    rng = np.random.default_rng(seed)
    atoms = rng.normal(size=(planted, d))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    codes = np.zeros((n, planted))
    for i in range(n):
        codes[i, rng.choice(planted, active, replace=False)] = rng.uniform(0.2, 1.0, active)
    rows = codes @ atoms + 0.3 / np.sqrt(d) * rng.normal(size=(n, d))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows.astype(np.float32)


def held_out_objective(atoms, rows, l1):
    atoms = np.asarray(atoms, dtype=np.float32)
    atoms = atoms[np.linalg.norm(atoms, axis=1) > 0]  # a zero atom (SPAMS leaves some) explains nothing
    dictionary = concise.Dictionary.from_atoms(np.ascontiguousarray(atoms))
    codes, stats = concise.Decomposer(dictionary, l1=l1, device="cpu").decompose(rows, preprocess=False,
                                                                                 return_stats=True)
    return float(np.mean(stats.objective)), float(np.mean(stats.l0))


class Concise:
    name = "concise"

    def __init__(self, k, l1, batch, seed):
        self.model = concise.DictionaryLearner(k, l1=l1, batch_size=batch, seed=seed, preprocess=False, device="cpu")

    def learn(self, rows):
        self.model.partial_fit(rows)

    def atoms(self):
        return self.model.components_


class Spams:
    name = "SPAMS trainDL"

    def __init__(self, k, l1, batch, seed):
        import spams
        self.spams, self.k, self.l1, self.batch, self.model, self.d = spams, k, l1, batch, None, None
        np.random.seed(seed)

    def learn(self, rows):
        x = np.asfortranarray(rows.T, dtype=np.float64)
        iters = max(1, rows.shape[0] // self.batch)
        params = dict(K=self.k, lambda1=self.l1 / 2, posAlpha=True, numThreads=2, batchsize=self.batch, iter=iters,
                      verbose=False, return_model=True)
        if self.model is None:
            self.d, self.model = self.spams.trainDL(x, **params)
        else:
            self.d, self.model = self.spams.trainDL(x, D=self.d, model=self.model, **params)

    def atoms(self):
        return self.d.T


class Sklearn:
    name = "scikit-learn"

    def __init__(self, k, l1, batch, seed):
        from sklearn.decomposition import MiniBatchDictionaryLearning
        self.model = MiniBatchDictionaryLearning(k, alpha=l1 / 2, batch_size=batch, positive_code=True,
                                                 fit_algorithm="cd", random_state=seed)
        self.batch = batch

    def learn(self, rows):
        for first in range(0, rows.shape[0], self.batch):
            self.model.partial_fit(rows[first:first + self.batch])

    def atoms(self):
        return self.model.components_


def run(method, train, held_out, l1, segments, epochs, budget, atoms):
    """(seconds learning, held-out objective, l0) after each segment."""
    points, spent = [], 0.0
    pieces = np.array_split(np.arange(train.shape[0]), segments)
    while len(pieces) > 1 and len(pieces[0]) < atoms:  # the first piece initializes the atoms from its rows
        pieces[:2] = [np.concatenate(pieces[:2])]
    for epoch in range(epochs):
        for piece in pieces:
            start = time.perf_counter()
            method.learn(train[piece])
            spent += time.perf_counter() - start
            objective, l0 = held_out_objective(method.atoms(), held_out, l1)
            points.append((spent, objective, l0))
            print(f"  {method.name:14s} epoch {epoch + 1} {spent:8.1f} s  held-out objective {objective:.5f}  l0 {l0:5.1f}"
                  f"  load {os.getloadavg()[0]:.1f}", flush=True)
            if spent > budget:
                return points
    return points


def time_to_reach(points, target):
    for seconds, objective, _ in points:
        if objective <= target:
            return seconds
    return None


def main():
    warnings.filterwarnings("ignore", module="sklearn")  # scikit-learn's coordinate descent warns at every batch
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=50000)
    ap.add_argument("--held-out", type=int, default=2000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--atoms", type=int, default=1024)
    ap.add_argument("--l1", type=float, default=0.3)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--concise-batch", type=int, default=0, help="concise's mini-batch (default: --batch)")
    ap.add_argument("--epochs", type=int, default=1, help="passes of the baselines over the rows")
    ap.add_argument("--concise-epochs", type=int, default=3, help="passes concise may take to reach them")
    ap.add_argument("--segments", type=int, default=5, help="held-out scores per epoch")
    ap.add_argument("--budget", type=float, default=120, help="seconds of learning after which a method stops")
    ap.add_argument("--methods", default="concise,spams,sklearn")
    args = ap.parse_args()
    rows = make_rows(args.rows + args.held_out, args.dim, 1024, 8, 0)
    train, held_out = rows[:args.rows], rows[args.rows:]
    print(f"N = {args.rows}, held out {args.held_out}, d = {args.dim}, K = {args.atoms}, lambda = {args.l1}, "
          f"batch {args.batch}, {args.epochs} epoch(s), OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    makers = {"concise": Concise, "spams": Spams, "sklearn": Sklearn}
    results = {}
    for key in args.methods.split(","):
        batch = args.concise_batch if key == "concise" and args.concise_batch > 0 else args.batch
        method = makers[key](args.atoms, args.l1, batch, 0)
        epochs = args.concise_epochs if key == "concise" else args.epochs
        results[key] = (method.name, run(method, train, held_out, args.l1, args.segments, epochs, args.budget, args.atoms))
    print()
    print(f"{'method':16s} {'seconds':>9s} {'held-out objective':>19s} {'l0':>6s}   concise reaches it in   speedup")
    ours = results.get("concise", (None, []))[1]
    for key, (name, points) in results.items():
        seconds, objective, l0 = points[-1]
        line = f"{name:16s} {seconds:9.1f} {objective:19.5f} {l0:6.1f}"
        if key != "concise" and ours:
            reach = time_to_reach(ours, objective)
            line += (f"   {reach:9.1f} s   {seconds / reach:8.1f}x" if reach else "   not reached")
        print(line)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
