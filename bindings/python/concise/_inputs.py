"""Reading the inputs of `concise evaluate` and `concise summarize`, with errors that
name the file and what was expected, and the exit status the CLI gives bad input."""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np


class InputProblem(ValueError):
    """Bad input: the command prints the message and exits with status 2."""


def run_command(main_body, prog):
    """Runs a command body; bad input exits 2 with `concise: error: ...` on stderr."""
    try:
        main_body()
    except (InputProblem, ValueError) as e:
        sys.stderr.write(f"{prog}: error: {e}\n")
        return 2
    return 0


def _h5py():
    try:
        import h5py
    except ImportError as e:  # pragma: no cover - h5py is a dependency
        raise InputProblem("reading HDF5 needs h5py (pip install h5py)") from e
    return h5py


def load_matrix(path, what, dataset="/embeddings"):
    """A float32 [n, d] matrix from .npy or HDF5 (dataset, default /embeddings); a 1-D array is one row."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputProblem(f"{what} file '{path}': no such file")
    try:
        if path.endswith(".npy"):
            a = np.load(path, allow_pickle=False)
        else:
            with _h5py().File(path, "r") as f:
                if dataset not in f:
                    raise InputProblem(f"{what} file '{path}' has no dataset '{dataset}'")
                a = f[dataset][...]
    except (OSError, ValueError) as e:
        if isinstance(e, InputProblem):
            raise
        raise InputProblem(f"{what} file '{path}' cannot be read as .npy or HDF5: {e}") from e
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if a.ndim != 2 or a.dtype.kind != "f":
        raise InputProblem(f"{what} file '{path}' holds {a.dtype} {a.shape}, expected a float matrix [rows, dim]")
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.isfinite(a).all():
        bad = int(np.argwhere(~np.isfinite(a).all(axis=1))[0, 0])
        raise InputProblem(f"{what} file '{path}', row {bad}: not finite")
    return a


def load_labels(path, rows, rows_source):
    """Integer labels, one per row of rows_source (.npy, or text with one integer per line)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputProblem(f"labels file '{path}': no such file")
    try:
        labels = np.load(path, allow_pickle=False) if path.endswith(".npy") else np.loadtxt(path, dtype=np.int64, ndmin=1)
    except ValueError as e:
        raise InputProblem(f"labels file '{path}' cannot be read: {e}") from e
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise InputProblem(f"labels file '{path}' holds {labels.dtype} {labels.shape}, expected one integer per row")
    if len(labels) != rows:
        raise InputProblem(f"labels file '{path}' has {len(labels)} labels but {rows_source} has {rows} rows; "
                           "expected one label per row")
    if len(labels) and labels.min() < 0:
        raise InputProblem(f"labels file '{path}' has a negative label ({labels.min()}), expected 0, 1, ...")
    return labels.astype(np.int64)


def read_names(path, what="names"):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputProblem(f"{what} file '{path}': no such file")
    lines = pathlib.Path(path).read_text(encoding="utf-8").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def concise_binary():
    """The concise CLI (for the CLIP encoders): $CONCISE_BIN, else concise on PATH."""
    path = os.environ.get("CONCISE_BIN") or shutil.which("concise")
    if not path:
        raise InputProblem("encoding class names needs the concise command line (set CONCISE_BIN or put it on PATH)")
    return path


def embed_texts(texts, model, bpe=None, device="auto"):
    """Unit-norm CLIP text embeddings of texts, by `concise embed --text` (LibTorch encoders)."""
    with tempfile.TemporaryDirectory(prefix="concise-texts-") as tmp:
        names = pathlib.Path(tmp) / "texts.txt"
        names.write_text("".join(t.replace("\n", " ") + "\n" for t in texts), encoding="utf-8")
        out = pathlib.Path(tmp) / "texts.h5"
        cmd = [concise_binary(), "embed", "--text", str(names), "--model", os.fspath(model), "--device", device,
               "-q", "-o", str(out)]
        if bpe:
            cmd += ["--bpe", os.fspath(bpe)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise InputProblem(f"encoding {len(texts)} texts with model '{model}' failed: {proc.stderr.strip()}")
        return load_matrix(out, "text embeddings")


def normalized(a):
    n = np.linalg.norm(a, axis=1, keepdims=True)
    return a / np.where(n > 0, n, 1)


def output_dir(path):
    """The output folder, created; files are written only after every input has been checked."""
    out = pathlib.Path(path)
    out.mkdir(parents=True, exist_ok=True)
    return out
