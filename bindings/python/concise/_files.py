"""Whole files in bounded memory, as the CLI runs them."""
import os

from . import _core
from ._decomposer import DEFAULTS, as_dictionary


def decompose_file(input, dictionary, output, *, dataset="/embeddings", l1=DEFAULTS["l1"], tol=DEFAULTS["tol"],
                   solver=DEFAULTS["solver"], device=DEFAULTS["device"], chunk=0, progress=False):
    """`concise decompose`: embeddings (HDF5, .npy or a folder of shards) to a codes file.

    Resumable: a rerun after an interruption continues from output + ".partial".
    Returns a summary dict (rows, seconds, mean_l0, mean_centered_cosine, mean_cosine (SpLiCE's), solver, ...).
    """
    return _core.decompose_file(os.fspath(input), as_dictionary(dictionary), os.fspath(output), dataset, l1, tol,
                                solver, device, chunk, progress)


def recompose_file(codes, dictionary, output, *, zero=(), device=DEFAULTS["device"]):
    """`concise recompose`: codes back to dense embeddings, with `zero` concepts removed."""
    _core.recompose_file(os.fspath(codes), as_dictionary(dictionary), [str(z) for z in zero], os.fspath(output),
                         device)
