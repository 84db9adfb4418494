"""concise.Decomposer: embeddings in, sparse nonnegative concept codes out."""
import os
from dataclasses import dataclass

import numpy as np

from . import _arrays, _core

# The solver options' defaults, as the C++ engine defines them (one place for all layers).
DEFAULTS = _core.solve_defaults()


def as_dictionary(dictionary):
    """A concise.Dictionary as given, or loaded from its path."""
    if isinstance(dictionary, (str, os.PathLike)):
        return _core.Dictionary.load(os.fspath(dictionary))
    return dictionary


@dataclass
class RowStats:
    """Per-row results of a decomposition (numpy arrays, one entry per row)."""
    l0: np.ndarray          # nonzero weights
    cosine: np.ndarray      # SpLiCE's cosine: the recomposition (image mean added back) against the input
    centered_cosine: np.ndarray  # C^T w against the centered input: what the codes explain (0 for an empty code)
    gap: np.ndarray         # certified duality gap, F(w) - F* <= gap
    objective: np.ndarray   # F(w) = ||z - C^T w||^2 + l1 * sum(w)
    iterations: np.ndarray  # solver iterations (working-set rounds for "ws")
    l1: np.ndarray          # the lambda each row was solved with (with l0=K, each row's own)
    at_limit: np.ndarray    # 1 where the row stopped on an iteration, round or grid limit


class Decomposer:
    """Decomposes CLIP embeddings over a concept dictionary.

    dictionary: a concise.Dictionary or the path of a dictionary file.
    l1: the penalty lambda in ||z - C^T w||^2 + lambda * sum(w) (SpLiCE's l1_penalty).
        0 is refused (plain NNLS has no certified gap); the error names the smallest useful lambda.
    l0: instead of l1, at most l0 atoms per row: each row gets the smallest lambda on the grid
        lambda_max(row) * l0_ratio**j whose certified solution has at most l0 atoms
        (RowStats.l1 holds it). CPU only.
    tol: each row stops when its certified duality gap <= tol * F(w).
    solver: "auto", "ws" (working set), "fista" or "admm".
    device: "auto", "cpu", "cuda" or "cuda:N".
    max_iterations, max_rounds: the limits of FISTA/ADMM and of the working set; rows that
        stop on one are marked in RowStats.at_limit.
    threads: CPU threads for each solve (0: all cores), set for the call only, so that
        torch's own thread setting in the same process stays as it is.
    """

    def __init__(self, dictionary, l1=None, tol=DEFAULTS["tol"], solver=DEFAULTS["solver"], device=DEFAULTS["device"],
                 max_iterations=DEFAULTS["max_iterations"], *, l0=None, l0_ratio=DEFAULTS["l0_ratio"],
                 max_rounds=DEFAULTS["max_rounds"], threads=DEFAULTS["threads"]):
        dictionary = as_dictionary(dictionary)
        if not isinstance(dictionary, _core.Dictionary):
            raise TypeError(f"dictionary is a {type(dictionary).__name__}, expected a concise.Dictionary or a path")
        if l1 is not None and l0 is not None:
            raise ValueError("give l1 (a fixed lambda) or l0 (a target number of atoms per row), not both")
        self.dictionary = dictionary
        self.l1 = DEFAULTS["l1"] if l1 is None else float(l1)
        self.l0 = 0 if l0 is None else int(l0)
        if l0 is not None and self.l0 < 1:
            raise ValueError(f"l0 must be a positive number of atoms, got {l0}")
        self.tol = float(tol)
        self._solver = _core.Solver(dictionary, self.l1, self.tol, solver, device, max_iterations, self.l0,
                                    float(l0_ratio), int(max_rounds), int(threads))

    @property
    def name(self):
        """The backend and solver, e.g. "cpu/ws"."""
        return self._solver.name

    @property
    def device(self):
        """The device it runs on, resolved: "cpu" or "cuda:N"."""
        return self._solver.device

    def __repr__(self):
        sparsity = f"l0={self.l0}" if self.l0 else f"l1={self.l1}"
        return f"<concise.Decomposer {self.name}, {sparsity}, tol={self.tol}, {len(self.dictionary)} concepts>"

    def decompose(self, embeddings, *, preprocess=True, return_stats=False, chunk=0):
        """Sparse codes of the rows of `embeddings` (n x d, numpy or torch, any float dtype).

        preprocess=True takes raw CLIP embeddings and applies SpLiCE's preprocessing
        with the dictionary's image mean; preprocess=False takes rows that are already
        normalized and centered. Contiguous float32 rows on the CPU are read in place,
        and so are contiguous float32 CUDA tensors when the decomposer runs on their GPU
        (preprocessing, solve and cosines then run there; only codes and stats come back).
        Returns scipy.sparse.csr_matrix for numpy input, a torch sparse CSR tensor for
        torch input, and with return_stats=True also a RowStats.
        The GIL is released while solving; Ctrl-C stops between chunks.
        """
        if self._solver.on_cuda and _arrays.is_cuda_tensor(embeddings):
            rows = _arrays.cuda_rows(embeddings)
            # The rows (and the conversion above) may still be in flight on torch's current
            # stream: the solve waits for that stream before it reads them.
            stream = _arrays._torch().cuda.current_stream(rows.device).cuda_stream
            indptr, indices, data, stats = self._solver.solve_cuda(rows, preprocess, chunk, stream)
        else:
            rows = _arrays.host_rows(embeddings)
            indptr, indices, data, stats = self._solver.solve(rows, preprocess, chunk)
        codes = _arrays.csr_result(embeddings, indptr, indices, data, (rows.shape[0], len(self.dictionary)))
        return (codes, RowStats(**stats)) if return_stats else codes

    def concept_indices(self, concepts):
        """Indices of concepts given by name or index."""
        indices = []
        for c in concepts:
            if isinstance(c, (int, np.integer)):
                if not 0 <= c < len(self.dictionary):
                    raise ValueError(f"concept {c} is out of range, expected 0..{len(self.dictionary) - 1}")
                indices.append(int(c))
            else:
                indices.append(self.dictionary.require(str(c), "zeroed"))
        return indices

    def recompose(self, codes, zero=(), *, add_image_mean=True):
        """SpLiCE's recompose_image: normalize(normalize(C^T w) + image mean) per row.

        zero: concepts (names or indices) whose weights are set to 0 first, SpLiCE's
        intervention. Returns numpy for numpy/scipy codes, torch for torch codes.
        """
        indptr, indices, data, _ = _arrays.csr_parts(codes, len(self.dictionary))
        zeroed = self.concept_indices(zero)
        if zeroed:
            data = np.where(np.isin(indices, zeroed), np.float32(0), data)
        dense = self._solver.recompose(indptr, indices, data, add_image_mean)
        if _arrays.is_torch(codes):
            import torch
            return torch.from_numpy(dense).to(codes.device)
        return dense

    def explain(self, codes, top=10):
        """Per row, its `top` concepts and weights, largest first: [[("cat", 0.09), ...], ...]."""
        indptr, indices, data, rows = _arrays.csr_parts(codes, len(self.dictionary))
        names = self.dictionary.concepts
        explained = []
        for r in range(rows):
            cols, weights = indices[indptr[r]:indptr[r + 1]], data[indptr[r]:indptr[r + 1]]
            order = np.argsort(-weights, kind="stable")[:top]
            explained.append([(names[cols[i]], float(weights[i])) for i in order if weights[i] > 0])
        return explained
