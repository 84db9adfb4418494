import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The real CLIP data that ships with concise (data/README.md) ...
DATA = ROOT / "data" / "clip-vit-b32"
# ... and data that may not ship (no license of its own), found beside the checkout
# or through $CONCISE_SHARED_DATA; the tests that need it skip without it.
SHARED = pathlib.Path(os.environ.get("CONCISE_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def concise_bin():
    path = os.environ.get("CONCISE_BIN", str(ROOT / "build" / "tools" / "concise"))
    if not pathlib.Path(path).exists():
        pytest.fail(f"concise binary not found at {path}; build first (make test does)")
    return path


@pytest.fixture
def run(concise_bin):
    def _run(*args, check=True):
        proc = subprocess.run([concise_bin, *map(str, args)], capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise AssertionError(f"concise {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
        return proc
    return _run


@pytest.fixture
def python_cli(concise_bin):
    """Like run, for the commands the CLI hands to Python (evaluate, summarize): they run
    in this test's Python, where the concise package is installed."""
    def _run(*args, check=True):
        env = dict(os.environ, CONCISE_PYTHON=sys.executable)
        proc = subprocess.run([concise_bin, *map(str, args)], capture_output=True, text=True, env=env)
        if check and proc.returncode != 0:
            raise AssertionError(f"concise {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
        return proc
    return _run


@pytest.fixture(scope="session")
def data_dir():
    """data/clip-vit-b32 of the checkout (LVIS concepts, image mean, the 7 photos' embeddings)."""
    if not (DATA / "lvis_concepts.npy").exists():
        pytest.fail(f"the shipped CLIP data is missing from {DATA}")
    return DATA


@pytest.fixture(scope="session")
def shared_data():
    """The data that does not ship: skips the test, saying so, where it is absent."""
    if not (SHARED / "clip-vit-b32" / "cifar10_test200_embeddings.npy").exists():
        pytest.skip(f"data that does not ship with concise (CIFAR-10 embeddings) not found at {SHARED}; "
                    "set CONCISE_SHARED_DATA to its folder")
    return SHARED


@pytest.fixture
def synthetic(tmp_path, run):
    """A small dictionary and 300 embeddings (with a shared direction, like CLIP)."""
    rng = np.random.default_rng(0)
    c, d, n = 400, 64, 300
    text = 3.0 + rng.normal(size=(c, d)).astype(np.float32)
    np.save(tmp_path / "text.npy", text.astype(np.float32))
    (tmp_path / "names.txt").write_text("".join(f"concept {k}\n" for k in range(c)))
    run("dictionary", "build", "--embeddings", tmp_path / "text.npy", "--names", tmp_path / "names.txt",
        "-o", tmp_path / "dict.h5")
    emb = rng.normal(size=(n, d)).astype(np.float32) + 1.0
    np.save(tmp_path / "emb.npy", emb)
    return tmp_path


def _write_shard_set(root, rows, c, d, seed):
    """A dictionary (root/dict.h5) and shards of random embeddings, one per name in rows
    (name -> row count): .npy files, or HDF5 files with an /embeddings dataset."""
    import h5py
    import concise
    rng = np.random.default_rng(seed)
    text = (2.0 + rng.normal(size=(c, d))).astype(np.float32)
    concise.Dictionary.build(text, [f"concept {k}" for k in range(c)],
                             image_mean=rng.normal(size=d).astype(np.float32)).save(str(root / "dict.h5"))
    for name, n in rows.items():
        x = (rng.normal(size=(n, d)) + 1.0).astype(np.float32)
        if name.endswith(".npy"):
            np.save(root / name, x)
        else:
            with h5py.File(root / name, "w") as f:
                f["embeddings"] = x


@pytest.fixture(scope="session")
def write_shard_set():
    """Writes a dictionary and shards for the Dask tests: write_shard_set(root, rows, c, d, seed)."""
    return _write_shard_set
