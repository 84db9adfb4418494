"""concise.DictionaryLearner: online nonnegative dictionary learning, scikit-learn style."""
import numpy as np

from . import _arrays, _core
from ._decomposer import Decomposer, as_dictionary


class DictionaryLearner:
    """Learns atoms whose sparse nonnegative combinations explain the embeddings.

    Online dictionary learning (Mairal et al. 2010): the codes come from concise's
    certified solver, the unit-norm atoms move by block coordinate descent on the
    statistics A = sum w w^T and B = sum w z^T.

    n_atoms: the atoms to learn.
    init: a concise.Dictionary (or its path) whose atoms stay fixed; the learned atoms
        are added after them ("residual atoms") and named by their nearest concepts.
        Without it the atoms are learned freely.
    l1: the penalty lambda of the codes, ||z - D^T w||^2 + lambda * sum(w) (default 0.25).
    l0: instead of l1, at most l0 atoms per code: each row's lambda is the smallest on the
        grid lambda_max(row) * l0_ratio**j whose certified code has at most l0 atoms.
    epochs, batch_size: passes over the rows in fit, and rows per dictionary update
        (batch_size >= the rows: batch mode).
    forget: rho; older statistics decay by (1 - 1/t)^rho before mini-batch t.
    image_mean: the modality mean rows are centered with (default: init's, or none).
    chunk: rows read and coded at once (default: from the number of atoms); a batch's statistics
        are the sum of its chunks' statistics, added in order.
    sweeps: block-coordinate sweeps over the atoms per mini-batch (online mode).
    preprocess: True takes raw CLIP embeddings (normalize, subtract the mean,
        normalize); False only normalizes each row.

    After fit: dictionary_ (a concise.Dictionary, fixed atoms first), components_
    (the learned atoms, n_atoms x d), objective_ (mean objective per row, per epoch),
    atoms_ (each learned atom's name, nearest concepts, usage and top rows).
    """

    def __init__(self, n_atoms, *, init=None, l1=None, l0=None, l0_ratio=0.9, epochs=10, batch_size=1024, tol=1e-4,
                 solver="auto", device="cpu", seed=0, forget=4.0, image_mean=None, preprocess=True, chunk=None,
                 sweeps=1):
        if l1 is not None and l0 is not None:
            raise ValueError("give l1 (a fixed lambda) or l0 (a target number of atoms per code), not both")
        if l0 is not None and int(l0) < 1:
            raise ValueError(f"l0 must be a positive number of atoms, got {l0}")
        self.l0, self.l0_ratio = (0 if l0 is None else int(l0)), float(l0_ratio)
        l1 = 0.25 if l1 is None else l1
        self.n_atoms, self.l1, self.epochs, self.batch_size = int(n_atoms), float(l1), int(epochs), int(batch_size)
        self.tol, self.solver, self.device, self.seed, self.forget = float(tol), solver, device, int(seed), float(forget)
        self.init = as_dictionary(init) if init is not None else None
        self.image_mean = None if image_mean is None else np.ascontiguousarray(image_mean, dtype=np.float32).ravel()
        self.preprocess = bool(preprocess)
        self.chunk = 0 if chunk is None else int(chunk)
        self.sweeps = int(sweeps)
        self._learner = None

    def _new_learner(self):
        return _core.Learner(self.n_atoms, self.l1, self.tol, self.solver, self.device, self.epochs, self.batch_size,
                             self.seed, self.forget, self.init, self.image_mean, self.l0, self.l0_ratio, self.chunk,
                             self.sweeps)

    def fit(self, X, y=None, *, progress=False):
        """Learns from scratch with `epochs` passes over the rows of X (n x d)."""
        rows = _arrays.host_rows(X)
        self._learner = self._new_learner()
        self.objective_ = list(self._learner.fit(rows, self.preprocess, progress))
        self._fitted(rows.shape[1])
        return self

    def partial_fit(self, X, y=None):
        """One pass over X in mini-batches, continuing from the atoms learned so far.
        The first call takes its first n_atoms rows as the initial atoms."""
        rows = _arrays.host_rows(X)
        if self._learner is None:
            self._learner = self._new_learner()
            self.objective_ = []
        self.objective_.append(self._learner.partial_fit(rows, self.preprocess))
        self._fitted(rows.shape[1])
        return self

    def _fitted(self, dim):
        self.dictionary_ = self._learner.dictionary
        self.n_features_in_ = dim
        self.components_ = np.array(self.dictionary_.atoms[len(self.dictionary_) - self.n_atoms:])
        self.atoms_ = _core.learned_atoms(self.dictionary_)[-self.n_atoms:]

    def _check_fitted(self):
        if self._learner is None:
            raise ValueError("this DictionaryLearner is not fitted yet: call fit or partial_fit first")

    def transform(self, X):
        """Sparse codes of X over the learned dictionary (fixed atoms first): scipy CSR."""
        self._check_fitted()
        sparsity = {"l0": self.l0, "l0_ratio": self.l0_ratio} if self.l0 else {"l1": self.l1}
        decomposer = Decomposer(self.dictionary_, tol=self.tol, solver=self.solver, device=self.device, **sparsity)
        return decomposer.decompose(X, preprocess=self.preprocess)

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)

    def describe(self, atom):
        """How a person reads an atom: its concept, or "learned_17 ~ {beach, surfboard, ocean}"."""
        self._check_fitted()
        return _core.describe_atom(self.dictionary_, int(atom))
