"""Whole files in bounded memory, as the CLI runs them."""
import os

from . import _core
from ._decomposer import DEFAULTS, as_dictionary


def decompose_file(input, dictionary, output, *, dataset="/embeddings", l1=None, tol=DEFAULTS["tol"],
                   solver=DEFAULTS["solver"], device=DEFAULTS["device"], chunk=0, progress=False, l0=None,
                   l0_ratio=DEFAULTS["l0_ratio"], max_rounds=DEFAULTS["max_rounds"], threads=DEFAULTS["threads"]):
    """`concise decompose`: embeddings (HDF5, .npy or a folder of shards) to a codes file.

    l1 or l0 as in concise.Decomposer (l1 defaults to DEFAULTS["l1"], 0.25). Resumable: a rerun after an
    interruption continues from output + ".partial" (with the same settings).
    Returns a summary dict (rows, seconds, mean_l0, mean_centered_cosine, mean_cosine (SpLiCE's), mean_l1,
    solver, not_converged, ...).
    """
    if l1 is not None and l0 is not None:
        raise ValueError("give l1 (a fixed lambda) or l0 (a target number of atoms per row), not both")
    return _core.decompose_file(os.fspath(input), as_dictionary(dictionary), os.fspath(output), dataset,
                                DEFAULTS["l1"] if l1 is None else float(l1), tol, solver, device, chunk, progress,
                                0 if l0 is None else int(l0), float(l0_ratio), int(max_rounds), int(threads))


def recompose_file(codes, dictionary, output, *, zero=(), device=DEFAULTS["device"]):
    """`concise recompose`: codes back to dense embeddings, with `zero` concepts removed."""
    _core.recompose_file(os.fspath(codes), as_dictionary(dictionary), [str(z) for z in zero], os.fspath(output),
                         device)
