"""concise.SparseIndex: an inverted index over concept codes with exact top-k search.

    index = concise.SparseIndex.build("codes.h5")       # or SparseIndex.load("index.h5")
    index.search(concepts="cat:1,kitten:0.5", k=5)      # [Hit(row, score, name), ...]
    index.search(like=17)                               # rows whose codes are like row 17's
    index.search(embedding=e, decomposer=decomposer)    # e decomposed with the index's dictionary
    rows, scores = index.search_codes(codes, k=10)      # many CSR query rows at once
"""
import os
from typing import NamedTuple

import numpy as np
import scipy.sparse

from . import _arrays, _core


class Hit(NamedTuple):
    row: int
    score: float  # the exact sparse inner product
    name: str     # the row's name (/names of the codes), or ""


class SparseIndex:
    """Posting lists per concept (rows by weight, block maxima) plus the codes themselves.

    Results equal scoring every row: the top k rows with a positive score, highest
    first, ties by lower row.
    """

    def __init__(self, core_index, path=None):
        self._index = core_index
        self.path = path

    @classmethod
    def build(cls, codes, *, concepts=None, fingerprint="", names=None):
        """From a codes file's path, or from CSR codes (scipy sparse, rows x concepts) with
        their concept names and the fingerprint of the dictionary that made them."""
        if isinstance(codes, (str, os.PathLike)):
            return cls(_core.SparseIndex.from_codes_file(os.fspath(codes)))
        m = scipy.sparse.csr_matrix(codes)
        m.sort_indices()
        concepts = list(concepts) if concepts is not None else []
        return cls(_core.SparseIndex.from_csr(np.ascontiguousarray(m.indptr, dtype=np.int64),
                                              np.ascontiguousarray(m.indices, dtype=np.int32),
                                              np.ascontiguousarray(m.data, dtype=np.float32), m.shape[1], concepts,
                                              str(fingerprint), list(names) if names is not None else []))

    @classmethod
    def load(cls, path):
        return cls(_core.SparseIndex.load(os.fspath(path)), os.fspath(path))

    def save(self, path):
        """Writes path + ".partial" and renames it when complete (`concise index build` layout)."""
        self._index.save(os.fspath(path))

    def __len__(self):
        return self._index.rows

    def __repr__(self):
        return (f"<concise.SparseIndex {self._index.rows} rows, {self._index.concepts_count} concepts, "
                f"{self._index.nnz} postings>")

    @property
    def concepts(self):
        return self._index.concepts

    @property
    def names(self):
        return self._index.names

    @property
    def fingerprint(self):
        """The fingerprint of the dictionary the indexed codes were made with."""
        return self._index.fingerprint

    @property
    def memory_bytes(self):
        return self._index.memory_bytes

    def _csr(self, codes):
        indptr, indices, data, _ = _arrays.csr_parts(codes, self._index.concepts_count)
        return indptr, indices, data

    def search_codes(self, codes, k=10, *, threads=0):
        """Top k rows for each query row of `codes` (rows x concepts, sparse or dense).
        Returns (rows int64 [n, k], -1 where fewer rows match; scores float64 [n, k])."""
        return self._index.search_csr(*self._csr(codes), int(k), int(threads))

    def brute_force_codes(self, codes, k=10):
        """The same as search_codes by scoring every row (the reference)."""
        return self._index.brute_force_csr(*self._csr(codes), int(k))

    def query_codes(self, *, concepts=None, embedding=None, decomposer=None, like=None):
        """The query as CSR codes [n, c] from exactly one of: concepts ("cat:1,kitten:0.5" or
        {"cat": 1.0}), embedding (decomposed by `decomposer`, which must use the index's
        dictionary), like (a row of the index)."""
        given = [x is not None for x in (concepts, embedding, like)]
        if sum(given) != 1:
            raise ValueError("search needs exactly one of concepts, embedding or like")
        c = self._index.concepts_count
        if concepts is not None:
            if isinstance(concepts, dict):
                concepts = ",".join(f"{name}:{weight}" for name, weight in concepts.items())
            cols, weights = self._index.parse_concepts(str(concepts))
            return scipy.sparse.csr_matrix((weights, cols, [0, len(cols)]), shape=(1, c))
        if like is not None:
            cols, weights = self._index.row_code(int(like))
            return scipy.sparse.csr_matrix((weights, cols, [0, len(cols)]), shape=(1, c))
        if decomposer is None:
            raise ValueError("an embedding query needs decomposer=, a concise.Decomposer over the index's dictionary")
        self._index.check_dictionary(decomposer.dictionary, self.path or "(in memory)", "the decomposer's")
        e = np.asarray(embedding, dtype=np.float32)
        return scipy.sparse.csr_matrix(decomposer.decompose(e.reshape(1, -1) if e.ndim == 1 else e))

    def search(self, *, concepts=None, embedding=None, decomposer=None, like=None, k=10):
        """Top k rows as [Hit(row, score, name), ...]; a list of such lists for a 2-D embedding."""
        codes = self.query_codes(concepts=concepts, embedding=embedding, decomposer=decomposer, like=like)
        rows, scores = self.search_codes(codes, k)
        names = self.names
        hits = [[Hit(int(r), float(s), names[r] if r < len(names) else "") for r, s in zip(rr, ss) if r >= 0]
                for rr, ss in zip(rows, scores)]
        if embedding is not None and np.asarray(embedding).ndim == 2:
            return hits
        return hits[0]
