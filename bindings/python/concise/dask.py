"""concise on a Dask cluster: sharded decomposition and distributed dictionary learning.

    from dask.distributed import Client
    import concise.dask
    client = Client("tcp://scheduler:8786")
    manifest = concise.dask.decompose_shards("embeddings/img_emb_*.npy", "dict.h5", "codes/", client=client)
    codes = concise.dask.load_csr(manifest)             # one scipy CSR over every shard
    concise.dask.explain(manifest, [0, 123456], top=5)

Each shard becomes one codes file, written by concise's resumable writer
(concise.decompose_file), and the folder gets a manifest (manifest.json) listing the
shards, their rows, the settings and sha256 checksums. Rerunning the same call skips
finished shards and resumes partial ones; a worker that dies costs only its shard's
unfinished chunks, and the scheduler runs the shard again elsewhere.

Needs `dask[distributed]` (pip install concise[dask]); h5py reads the codes back.
Command line: python -m concise.dask decompose --scheduler ADDRESS ...
"""
import glob as _glob
import hashlib
import json
import os
import sys
import threading
import time

import numpy as np

import concise
from concise import _core
from concise._decomposer import DEFAULTS

MANIFEST = "manifest.json"
FORMAT = "concise-sharded-codes"
_HASH_BLOCK = 1 << 22
LOCK_WAIT_SECONDS = 6 * 3600  # the longest a task waits for another run's writer of its shard


# --------------------------------------------------------------------------- shards

def expand_shards(shards):
    """The shard list in a fixed order: a glob (sorted), a folder of img_emb_*.npy shards
    given as a glob's match stays one shard, a list or tuple of paths is kept as given."""
    if isinstance(shards, (str, os.PathLike)):
        pattern = os.fspath(shards)
        if _glob.has_magic(pattern):
            found = sorted(_glob.glob(pattern))
            if not found:
                raise FileNotFoundError(f"no shard matches {pattern}")
            return found
        return [pattern]
    return [os.fspath(s) for s in shards]


def _shard_files(path):
    """The files a shard stands for: itself, or a clip-retrieval folder's img_emb_*.npy."""
    if os.path.isdir(path):
        files = sorted(_glob.glob(os.path.join(path, "img_emb_*.npy"))) or sorted(_glob.glob(os.path.join(path, "*.npy")))
        if not files:
            raise FileNotFoundError(f"shard folder {path} holds no img_emb_*.npy files")
        return files
    return [path]


def shard_identity(path):
    """sha256 of what identifies an input shard: each file's name, size and modification time."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"input shard {path} is missing")
    h = hashlib.sha256()
    for f in _shard_files(path):
        st = os.stat(f)
        h.update(f"{os.path.basename(f)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_HASH_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def codes_name(index, shard):
    stem = os.path.basename(os.path.normpath(shard))
    for ext in (".npy", ".h5", ".hdf5"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
    return f"{index:05d}-{stem}.codes.h5"


# --------------------------------------------------------------------------- the worker side

# The one piece of state: each worker process keeps the dictionaries it loaded, keyed by
# path, size and modification time, so a worker loads a dictionary once, not once per task.
_WORKER_DICTIONARIES = {}
_WORKER_LOADS = [0]
_WORKER_LOCK = threading.Lock()  # a worker with several threads still loads it once


def worker_dictionary(path):
    """The dictionary at path, loaded once per process."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    with _WORKER_LOCK:
        if key not in _WORKER_DICTIONARIES:
            _WORKER_DICTIONARIES.clear()  # a changed file replaces its old version
            _WORKER_DICTIONARIES[key] = concise.Dictionary.load(path)
            _WORKER_LOADS[0] += 1
        return _WORKER_DICTIONARIES[key]


def worker_loads():
    """How many times this process loaded a dictionary (run it on the workers: client.run)."""
    return _WORKER_LOADS[0]


def _decompose_shard(shard, dictionary_path, codes_path, settings):
    """One shard to its codes file (resuming its .partial); returns rows, sha256, seconds."""
    start = time.perf_counter()
    dictionary = worker_dictionary(dictionary_path)
    while True:
        rows = _finished_rows(codes_path, dictionary.fingerprint, settings)
        if rows is not None:  # finished by an earlier run whose client died before recording it
            return {"rows": rows, "rows_this_run": 0, "resumed": False, "device": None,
                    "sha256": file_sha256(codes_path), "seconds": time.perf_counter() - start}
        try:
            summary = concise.decompose_file(shard, dictionary, codes_path, **_solve_arguments(settings))
            break
        except ValueError as err:
            # A task of an earlier run (whose client died) still writes this shard: wait for
            # it to finish or die, then take over its file.
            if "another concise run is writing this output now" not in str(err) or \
                    time.perf_counter() - start > LOCK_WAIT_SECONDS:
                raise
            time.sleep(0.2)
    return {"rows": int(summary["rows"]), "rows_this_run": int(summary["rows_this_run"]),
            "resumed": bool(summary["resumed"]), "device": summary["device"], "sha256": file_sha256(codes_path),
            "seconds": time.perf_counter() - start}


def _solve_arguments(settings):
    """decompose_file's keyword arguments from a manifest's settings (l0 = 0: a fixed l1)."""
    args = {k: settings[k] for k in ("dataset", "tol", "solver", "device", "chunk", "max_rounds", "threads")}
    if settings["l0"]:
        args.update(l0=settings["l0"], l0_ratio=settings["l0_ratio"])
    else:
        args.update(l1=settings["l1"])
    return args


def _finished_rows(codes_path, fingerprint, settings):
    """The rows of a finished codes file written with these settings, or None."""
    if not os.path.exists(codes_path) or os.path.exists(codes_path + ".partial"):
        return None
    try:
        import h5py
        with h5py.File(codes_path, "r") as f:
            a = f.attrs
            penalty = (int(a["l0"]) == settings["l0"] and float(a["l0_ratio"]) == settings["l0_ratio"]
                       if settings["l0"] else int(a["l0"]) == 0 and float(a["l1"]) == settings["l1"])
            same = (int(a["complete"]) == 1 and penalty and float(a["tol"]) == settings["tol"]
                    and int(a["max_rounds"]) == settings["max_rounds"]
                    and _text(a["dictionary_fingerprint"]) == fingerprint
                    and settings["solver"] in ("auto", _text(a["solver"])))
            return int(a["n_rows"]) if same else None
    except (ImportError, OSError, KeyError):
        return None


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _save_block(block, path):
    """A dask.array block as a .npy shard (written whole, then renamed into place)."""
    if not os.path.exists(path):
        tmp = path + ".partial.npy"
        np.save(tmp, np.ascontiguousarray(block, dtype=np.float32))
        os.replace(tmp, path)
    return path


def _decompose_block(block, shard, dictionary_path, codes_path, settings):
    return _decompose_shard(_save_block(block, shard), dictionary_path, codes_path, settings)


# --------------------------------------------------------------------------- the manifest

class ManifestError(ValueError):
    """A manifest that does not match the files beside it."""


def _manifest_path(path):
    path = os.fspath(path)
    return os.path.join(path, MANIFEST) if os.path.isdir(path) else path


def read_manifest(path):
    path = _manifest_path(path)
    if not os.path.exists(path):
        raise ManifestError(f"{path}: no manifest there (expected the {MANIFEST} that decompose_shards writes)")
    with open(path) as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT:
        raise ManifestError(f"{path}: not a concise shard manifest (format {manifest.get('format')!r}, expected {FORMAT!r})")
    manifest["_folder"] = os.path.dirname(os.path.abspath(path))
    return manifest


def _write_manifest(folder, manifest):
    body = {k: v for k, v in manifest.items() if not k.startswith("_")}
    path = os.path.join(folder, MANIFEST)
    tmp = path + ".partial"
    with open(tmp, "w") as f:
        json.dump(body, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def _codes_rows(path):
    """The rows of a codes file, from the length of its /codes/indptr."""
    try:
        with _h5py().File(path, "r") as f:
            return int(f["codes/indptr"].shape[0]) - 1
    except (OSError, KeyError) as err:
        raise ManifestError(f"codes file {path} is not a codes file ({err})") from err


def _shards_with_rows(manifest, rows):
    """The manifest's shards holding some of the global rows [first, last) (all: rows=None)."""
    if rows is None:
        return manifest["shards"]
    first, last = rows
    picked, offset = [], 0
    for s in manifest["shards"]:
        if s.get("rows") is None or (offset < last and first < offset + s["rows"]):
            picked.append(s)
        offset += s.get("rows") or 0
    return picked


def verify(manifest, *, inputs=False, rows=None):
    """Checks every codes file against its checksum and row count (and, with inputs=True,
    every input shard against its identity); raises ManifestError naming the first file
    that differs. rows=(first, last): only the shards holding some of those global rows."""
    manifest = manifest if isinstance(manifest, dict) else read_manifest(manifest)
    for s in _shards_with_rows(manifest, rows):
        _verify_shard(manifest, s, inputs)
    return manifest


def _verify_shard(manifest, s, inputs):
    """verify() for one shard s of the manifest."""
    codes = os.path.join(manifest["_folder"], s["codes"])
    if s.get("sha256") is None:
        raise ManifestError(f"shard {s['input']} is not finished; rerun decompose_shards to complete it")
    if not os.path.exists(codes):
        raise ManifestError(f"codes file {codes} (shard {s['input']}) is missing")
    if file_sha256(codes) != s["sha256"]:
        raise ManifestError(f"codes file {codes} (shard {s['input']}) changed: its sha256 differs from the manifest's")
    held = _codes_rows(codes)
    if held != s["rows"]:
        raise ManifestError(f"codes file {codes} (shard {s['input']}) holds {held} rows, the manifest "
                            f"expects {s['rows']}")
    if inputs and s.get("identity") is not None:
        if not os.path.exists(s["input"]):
            raise ManifestError(f"input shard {s['input']} is missing")
        if shard_identity(s["input"]) != s["identity"]:
            raise ManifestError(f"input shard {s['input']} changed since its codes were written "
                                "(size or modification time differ)")


# --------------------------------------------------------------------------- the client side

class _Progress:
    """A tqdm bar on a terminal (or when asked for); nothing in pipes or without tqdm."""

    def __init__(self, total, unit, enabled):
        self._bar = None
        if enabled is None:
            enabled = sys.stderr.isatty()
        if enabled:
            try:
                from tqdm import tqdm
                self._bar = tqdm(total=total, unit=unit, desc=f"{unit}s", file=sys.stderr)
            except ImportError:
                pass

    def advance(self, note):
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(note)

    def close(self):
        if self._bar is not None:
            self._bar.close()


class SchedulerError(ConnectionError):
    """The Dask scheduler could not be reached."""


def _client(client, scheduler):
    from dask.distributed import Client
    if client is not None:
        return client, False
    if scheduler is None:
        return Client(), True  # a LocalCluster on this machine
    try:
        return Client(scheduler), True
    except Exception as err:  # an unreachable host, a refused port, a malformed address
        import dask
        raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler} ({type(err).__name__}: {err}); start "
                             "one there (dask scheduler) or give its address as tcp://HOST:PORT (waited "
                             f"{dask.config.get('distributed.comm.timeouts.connect')}, set by "
                             "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT)") from err


# The settings a manifest records; a rerun must give the same ones (device and threads
# excepted: they change where and how fast, not which codes).
_SETTING_DEFAULTS = {"dataset": "/embeddings", "l1": DEFAULTS["l1"], "l0": 0, "l0_ratio": DEFAULTS["l0_ratio"],
                     "tol": DEFAULTS["tol"], "solver": DEFAULTS["solver"], "max_rounds": DEFAULTS["max_rounds"],
                     "chunk": 0}


def decompose_shards(shards, dictionary, output, *, client=None, scheduler=None, dataset="/embeddings",
                     l1=None, l0=None, l0_ratio=DEFAULTS["l0_ratio"], tol=DEFAULTS["tol"], solver=DEFAULTS["solver"],
                     device="auto", chunk=0, max_rounds=DEFAULTS["max_rounds"], threads=DEFAULTS["threads"],
                     retries=3, progress=None, verbose=None):
    """Decomposes every shard on the cluster into output/NNNNN-NAME.codes.h5 and writes
    output/manifest.json. Returns the manifest (a dict; see load_csr, explain, verify).

    shards: a glob ("emb/img_emb_*.npy"), a list of paths (.npy, HDF5 with `dataset`,
        clip-retrieval folders of img_emb_*.npy), or a 2-d dask.array (each row block a shard,
        saved under output/blocks/ first).
    dictionary: the dictionary file's path (workers load it once each, from a path they can read).
    l1 or l0 (at most l0 atoms per row), l0_ratio, tol, solver, max_rounds, chunk: as concise.decompose_file.
    client / scheduler: a dask.distributed.Client, or a scheduler address; with neither, a
        LocalCluster on this machine. device="auto" uses a worker's GPU when it has one;
        threads: solver threads per task (0: the worker's OMP_NUM_THREADS, 1 under Dask).
    retries: how often the scheduler reruns a shard whose task failed.
    Nothing is written before the cluster answers (SchedulerError when it does not).
    """
    if l1 is not None and l0 is not None:
        raise ValueError("give l1 (a fixed lambda) or l0 (a target number of atoms per row), not both")
    dictionary = os.path.abspath(os.fspath(dictionary))
    if not os.path.exists(dictionary):
        raise FileNotFoundError(f"dictionary {dictionary} does not exist")
    output = os.path.abspath(os.fspath(output))
    if os.path.exists(output) and not os.path.isdir(output):
        raise FileExistsError(f"output {output} is a file; decompose_shards writes a folder (one codes file per "
                              f"shard and {MANIFEST})")
    fingerprint = concise.Dictionary.load(dictionary).fingerprint
    settings = {"dataset": dataset, "l1": float(DEFAULTS["l1"] if l1 is None else l1), "l0": int(l0 or 0),
                "l0_ratio": float(l0_ratio), "tol": float(tol), "solver": solver, "max_rounds": int(max_rounds),
                "chunk": int(chunk), "device": device, "threads": int(threads)}

    blocks = None
    if hasattr(shards, "to_delayed") and hasattr(shards, "chunks"):
        array = shards.rechunk({1: -1}) if shards.numblocks[1] != 1 else shards
        blocks = list(array.to_delayed()[:, 0])
        paths = [os.path.join(output, "blocks", f"block-{i:05d}.npy") for i in range(len(blocks))]
        identities = [hashlib.sha256(f"{array.name}:{i}".encode()).hexdigest() for i in range(len(blocks))]
    else:
        paths = [os.path.abspath(p) for p in expand_shards(shards)]
        identities = [shard_identity(p) for p in paths]
    if not paths:
        raise ValueError("no shards given")

    previous = None
    if os.path.exists(os.path.join(output, MANIFEST)):
        previous = read_manifest(output)
        settled = {k: previous["settings"].get(k, v) for k, v in _SETTING_DEFAULTS.items()}
        wanted = {k: settings[k] for k in _SETTING_DEFAULTS}
        if settled != wanted or previous["dictionary"]["fingerprint"] != fingerprint:
            raise ManifestError(f"{os.path.join(output, MANIFEST)} was written with other settings or another dictionary "
                                f"({settled}, expected {wanted}); use another output folder")
    done = {}
    if previous:
        for s in previous["shards"]:
            done[s["input"]] = s
    entries = []
    for i, (path, identity) in enumerate(zip(paths, identities)):
        entry = {"input": path, "identity": identity, "codes": codes_name(i, path), "rows": None, "sha256": None,
                 "device": None}
        old = done.get(path)
        if old is not None and old.get("sha256") is not None:
            if old["identity"] != identity:
                raise ManifestError(f"input shard {path} changed since its codes {old['codes']} were written "
                                    f"(identity {old['identity'][:12]}..., now {identity[:12]}...); "
                                    "remove that codes file to decompose it again")
            codes = os.path.join(output, old["codes"])
            if os.path.exists(codes) and file_sha256(codes) == old["sha256"]:
                entry.update(codes=old["codes"], rows=old["rows"], sha256=old["sha256"], device=old.get("device"))
            elif os.path.exists(codes):
                raise ManifestError(f"codes file {codes} changed: its sha256 differs from the manifest's; "
                                    "remove it to decompose the shard again")
        entries.append(entry)

    manifest = {"format": FORMAT, "version": 1, "_folder": output,
                "dictionary": {"path": dictionary, "fingerprint": fingerprint},
                "settings": settings, "rows": None, "shards": entries}
    todo = [i for i, e in enumerate(entries) if e["sha256"] is None]

    stats = {"shards": len(entries), "skipped": len(entries) - len(todo), "ran": len(todo), "rows_this_run": 0,
             "resumed": 0, "seconds": 0.0, "devices": {}}
    owned = False
    if todo:
        client, owned = _client(client, scheduler)  # before anything is written
    try:
        os.makedirs(os.path.join(output, "blocks") if blocks is not None else output, exist_ok=True)
        _write_manifest(output, manifest)
        if todo:
            if verbose or (verbose is None and sys.stderr.isatty()):
                link = getattr(client, "dashboard_link", None)
                print(f"concise: {len(todo)} of {len(entries)} shards to decompose"
                      + (f"; dashboard {link}" if link else ""), file=sys.stderr)
            stats.update(_run_shards(client, todo, entries, paths, blocks, dictionary, output, settings, retries,
                                     progress, manifest))
    finally:
        if owned:
            client.close()
    manifest["rows"] = int(sum(e["rows"] for e in entries))
    _write_manifest(output, manifest)
    manifest["_run"] = stats
    return manifest


def _run_shards(client, todo, entries, paths, blocks, dictionary, output, settings, retries, progress, manifest):
    from dask.distributed import as_completed
    import dask

    futures = {}
    for i in todo:
        codes = os.path.join(output, entries[i]["codes"])
        key = f"concise-shard-{i}-{entries[i]['identity'][:16]}"
        if blocks is None:
            f = client.submit(_decompose_shard, paths[i], dictionary, codes, settings, key=key, pure=False,
                              retries=retries)
        else:
            f = client.compute(dask.delayed(_decompose_block, pure=False)(blocks[i], paths[i], dictionary, codes,
                                                                          settings, dask_key_name=key),
                               retries=retries)
        futures[f] = i
    bar = _Progress(len(todo), "shard", progress)
    totals = {"rows_this_run": 0, "resumed": 0, "seconds": 0.0, "task_seconds": 0.0, "devices": {}}
    start = time.perf_counter()
    try:
        for future in as_completed(list(futures)):
            i = futures[future]
            result = future.result()
            entries[i].update(rows=result["rows"], sha256=result["sha256"],
                              device=result["device"] or entries[i]["device"])
            totals["rows_this_run"] += result["rows_this_run"]
            totals["resumed"] += int(result["resumed"])
            totals["task_seconds"] += result["seconds"]
            if result["device"] is not None:  # the shards each device decomposed (cpu, cuda:0, ...)
                totals["devices"][result["device"]] = totals["devices"].get(result["device"], 0) + 1
            _write_manifest(output, manifest)  # a finished shard is never redone, even if the client dies next
            bar.advance(f"{totals['rows_this_run'] / max(time.perf_counter() - start, 1e-9):,.0f} rows/s")
    finally:
        bar.close()
    totals["seconds"] = time.perf_counter() - start
    return totals


# --------------------------------------------------------------------------- readers

def _h5py():
    try:
        import h5py
    except ImportError as e:
        raise ImportError("reading codes files needs h5py (pip install concise[dask])") from e
    return h5py


def _read_csr(path):
    import scipy.sparse
    with _h5py().File(path, "r") as f:
        g = f["codes"]
        shape = tuple(int(x) for x in g.attrs["shape"])
        return scipy.sparse.csr_matrix((g["data"][:], g["indices"][:], g["indptr"][:]), shape=shape)


def load_csr(manifest, *, check=True):
    """Every shard's codes as one scipy CSR matrix, rows in shard order (checksums verified)."""
    import scipy.sparse
    manifest = verify(manifest) if check else (manifest if isinstance(manifest, dict) else read_manifest(manifest))
    parts = [_read_csr(os.path.join(manifest["_folder"], s["codes"])) for s in manifest["shards"]]
    return scipy.sparse.vstack(parts, format="csr")


def concepts(manifest):
    manifest = manifest if isinstance(manifest, dict) else read_manifest(manifest)
    first = os.path.join(manifest["_folder"], manifest["shards"][0]["codes"])
    with _h5py().File(first, "r") as f:
        return [c.decode() if isinstance(c, bytes) else str(c) for c in f["concepts"][:]]


def to_anndata(manifest, *, check=True):
    """The shards as one AnnData, concatenated lazily: an anndata.experimental.AnnCollection
    over each codes file opened backed (nothing is read until rows are asked for)."""
    try:
        import anndata
        from anndata.experimental import AnnCollection
    except ImportError as e:
        raise ImportError("to_anndata needs anndata (pip install anndata)") from e
    manifest = verify(manifest) if check else (manifest if isinstance(manifest, dict) else read_manifest(manifest))
    sparse_dataset = getattr(getattr(anndata, "io", None), "sparse_dataset", None) or anndata.experimental.sparse_dataset
    h5py = _h5py()
    names = concepts(manifest)
    parts = []
    for s in manifest["shards"]:
        f = h5py.File(os.path.join(manifest["_folder"], s["codes"]), "r")
        adata = anndata.AnnData(X=sparse_dataset(f["codes"]), var={"concept": names})
        adata.obs_names = [f"{s['codes']}:{r}" for r in range(s["rows"])]
        adata.var_names = [str(k) for k in range(len(names))]
        parts.append(adata)
    return AnnCollection(parts, join_vars="inner", label="shard", keys=[s["codes"] for s in manifest["shards"]])


def _locate(manifest, row):
    offset = 0
    for s in manifest["shards"]:
        if row < offset + s["rows"]:
            return s, row - offset
        offset += s["rows"]
    raise IndexError(f"row {row} is out of range: the shards hold {offset} rows")


def explain(manifest, rows, top=10, *, check=True):
    """Per global row (in shard order), its `top` concepts and weights, largest first:
    [[("cat", 0.09), ...], ...], read from each row's shard without loading the others.
    check: each shard read is first verified against the manifest (as verify does)."""
    manifest = manifest if isinstance(manifest, dict) else read_manifest(manifest)
    names = concepts(manifest)
    h5py = _h5py()
    out, checked = [], set()
    for row in ([rows] if np.isscalar(rows) else rows):
        s, local = _locate(manifest, int(row))
        if check and s["codes"] not in checked:
            _verify_shard(manifest, s, False)
            checked.add(s["codes"])
        with h5py.File(os.path.join(manifest["_folder"], s["codes"]), "r") as f:
            lo, hi = (int(x) for x in f["codes/indptr"][local:local + 2])
            cols, weights = f["codes/indices"][lo:hi], f["codes/data"][lo:hi]
        order = np.argsort(-weights, kind="stable")[:top]
        out.append([(names[cols[i]], float(weights[i])) for i in order if weights[i] > 0])
    return out


def summarize(manifest):
    """Rows, mean nonzeros and mean cosines over every shard (from each file's /stats)."""
    manifest = verify(manifest)
    h5py = _h5py()
    total, sums = 0, {"l0": 0.0, "cosine": 0.0, "centered_cosine": 0.0}
    for s in manifest["shards"]:
        with h5py.File(os.path.join(manifest["_folder"], s["codes"]), "r") as f:
            total += s["rows"]
            for k in sums:
                sums[k] += float(np.sum(f["stats"][k][:], dtype=np.float64))
    return {"shards": len(manifest["shards"]), "rows": total,
            **{f"mean_{k}": v / max(total, 1) for k, v in sums.items()}}


# --------------------------------------------------------------------------- dictionary learning

def read_rows(path, dataset="/embeddings", first=0, last=None):
    """Rows [first, last) of a shard as float32: .npy, HDF5 (`dataset`) or a folder of img_emb_*.npy."""
    if os.path.isdir(path):
        rows = np.concatenate([np.load(f, mmap_mode="r") for f in _shard_files(path)])
    elif path.endswith(".npy"):
        rows = np.load(path, mmap_mode="r")
    else:
        with _h5py().File(path, "r") as f:
            return np.ascontiguousarray(f[dataset][first:last], dtype=np.float32)
    return np.ascontiguousarray(rows[first:last], dtype=np.float32)


def shard_rows(path, dataset="/embeddings"):
    """The number of rows of a shard, without reading them."""
    if os.path.isdir(path):
        return sum(np.load(f, mmap_mode="r").shape[0] for f in _shard_files(path))
    if path.endswith(".npy"):
        return np.load(path, mmap_mode="r").shape[0]
    with _h5py().File(path, "r") as f:
        return f[dataset].shape[0]


def _read_range(shards, sizes, first, count, dataset):
    """Rows [first, first + count) of the shards taken as one matrix, in shard order."""
    parts, start = [], 0
    for shard, size in zip(shards, sizes):
        lo, hi = max(first, start), min(first + count, start + size)
        if lo < hi:
            parts.append(read_rows(shard, dataset, lo - start, hi - start))
        start += size
    return np.concatenate(parts)


def update_atoms(atoms, fixed, a, b, *, max_sweeps=50):
    """The learner's batch-mode atom step (learn/, block coordinate descent on the unit
    sphere, Mairal et al. 2010): atom j <- normalize(A_jj d_j + B_j - sum_i A_ji d_i) for each
    learned atom in turn, unused atoms kept, sweeping until no coordinate moves by 1e-6.
    Returns the new atoms (float32)."""
    f32 = lambda x: np.ascontiguousarray(x, dtype=np.float32)
    return _core.learn_update_atoms(f32(atoms), int(fixed), f32(a), f32(b), int(max_sweeps))


def _code_block(shards, sizes, first, count, order, first_order, atoms, fixed, settings):
    """A worker's task: one block of the epoch's rows, coded as the single-process learner codes it."""
    rows = _read_range(shards, sizes, first, count, settings["dataset"])
    return _core.learn_piece(atoms, fixed, rows, order, first_order, settings["l1"], settings["tol"],
                             settings["solver"], settings["device"], settings["l0"], settings["l0_ratio"],
                             settings["image_mean"], settings["preprocess"])


def learn_dictionary(shards, n_atoms, *, client=None, scheduler=None, init=None, l1=None, l0=None, l0_ratio=0.9,
                     epochs=10, tol=1e-4, solver="auto", device="cpu", seed=0, image_mean=None, preprocess=True,
                     dataset="/embeddings", chunk=None, retries=3, progress=None):
    """Batch dictionary learning over shards on a cluster: concise.DictionaryLearner with a
    batch of every row, its coding spread over the workers.

    The shards are taken as one matrix in the order given. Each epoch visits it in the
    learner's blocks, in the order the seed picks; the atoms are broadcast, each worker codes
    blocks and returns their statistics A = sum w wT and B = sum w zT (from zero) and tallies,
    and the client adds them in the epoch's block order (so the result does not depend on which
    worker finished first), then moves the atoms by the learner's own rule and re-initialises
    unused ones. The result is bit-identical to
    DictionaryLearner(n_atoms, batch_size=len(rows), ...).fit(rows) on the concatenated rows
    with the same seed and settings (chunk included: the rows coded at once, one task each),
    and to client=False (the same steps in this process).

    Returns (atoms, fixed, objectives): all atoms (init's first), the number of fixed ones,
    and the mean objective per row of each epoch.
    """
    if l1 is not None and l0 is not None:
        raise ValueError("give l1 (a fixed lambda) or l0 (a target number of atoms per code), not both")
    shards = [os.path.abspath(p) for p in expand_shards(shards)]
    init = concise._decomposer.as_dictionary(init) if init is not None else None
    if image_mean is None and init is not None and init.image_mean is not None:
        image_mean = np.array(init.image_mean)
    if image_mean is not None:
        image_mean = np.ascontiguousarray(image_mean, dtype=np.float32).ravel()
    l1 = 0.25 if l1 is None else float(l1)
    l0 = 0 if l0 is None else int(l0)
    settings = {"dataset": dataset, "l1": l1, "tol": float(tol), "solver": solver, "device": device, "l0": l0,
                "l0_ratio": float(l0_ratio), "image_mean": image_mean, "preprocess": bool(preprocess)}
    sizes = [shard_rows(s, dataset) for s in shards]
    n = sum(sizes)
    if n < n_atoms:
        raise ValueError(f"the shards hold {n} rows, fewer than the {n_atoms} atoms to learn")
    learner = _core.Learner(int(n_atoms), l1, float(tol), solver, device, int(epochs), max(1, n), int(seed), 10.0,
                            init, image_mean, l0, float(l0_ratio), 0 if chunk is None else int(chunk))
    chosen = _core.learn_initial_rows(n, int(n_atoms), int(seed))
    learner.initialize_rows(np.concatenate([_read_range(shards, sizes, r, 1, dataset) for r in chosen]),
                            bool(preprocess))
    fixed = 0 if init is None else len(init)
    block = _core.learn_block_rows(0 if chunk is None else int(chunk), fixed + int(n_atoms))
    owned = False
    if client is not False:
        client, owned = _client(client, scheduler)
    objectives = []
    bar = _Progress(epochs, "epoch", progress)
    try:
        for epoch in range(epochs):
            atoms = learner.atoms
            tasks, first_order = [], 0
            for first, count, order in _core.learn_epoch_order(n, block, int(seed), epoch):
                tasks.append((first, count, order, first_order))
                first_order += count
            if client is False:
                pieces = [_code_block(shards, sizes, *t, atoms, fixed, settings) for t in tasks]
            else:
                shared = client.scatter(atoms, broadcast=True)
                futures = [client.submit(_code_block, shards, sizes, *t, shared, fixed, settings, pure=False,
                                         retries=retries) for t in tasks]
                pieces = client.gather(futures)
            a, b = pieces[0]["a"].copy(), pieces[0]["b"].copy()
            for piece in pieces[1:]:  # in the epoch's block order, as the learner adds them
                a += piece["a"]
                b += piece["b"]
            objective, _ = learner.apply_batch(a, b, [{k: v for k, v in p.items() if k not in ("a", "b")} for p in pieces])
            objectives.append(objective)
            bar.advance(f"objective {objective:.5f}")
    finally:
        bar.close()
        if owned:
            client.close()
    return learner.atoms, fixed, objectives


# --------------------------------------------------------------------------- command line

def _decompose_command(args):
    shards = [x for pattern in args.shards for x in expand_shards(pattern)]
    try:
        m = decompose_shards(shards, args.dictionary, args.output, scheduler=args.scheduler, dataset=args.dataset,
                             l1=args.l1, l0=args.l0, l0_ratio=args.l0_ratio, tol=args.tol, solver=args.solver,
                             device=args.device, chunk=args.chunk, max_rounds=args.max_rounds, threads=args.threads,
                             retries=args.retries, progress=False if args.quiet else None,
                             verbose=False if args.quiet else None)
    except KeyboardInterrupt:
        manifest = os.path.join(args.output, MANIFEST)
        finished = sum(1 for s in read_manifest(manifest)["shards"] if s["sha256"]) if os.path.exists(manifest) else 0
        print(f"stopped with {finished} of {len(shards)} shards finished; the others keep what their .partial files "
              "hold: rerun the same command to resume", file=sys.stderr)
        return 130
    run = m["_run"]
    devices = ", ".join(f"{n} on {d}" for d, n in sorted(run["devices"].items()))
    rate = f", {run['rows_this_run'] / run['seconds']:.0f} rows/s" if run["seconds"] > 0 else ""
    print(f"{m['rows']} rows in {len(m['shards'])} shards ({run['ran']} decomposed, {run['skipped']} already "
          f"done; {run['rows_this_run']} rows this run in {run['seconds']:.1f} s{rate}"
          + (f"; {devices}" if devices else "") + f"); manifest {os.path.join(args.output, MANIFEST)}")
    return 0


def _row_range(text):
    first, colon, last = text.partition(":")
    try:
        return int(first), int(last) if colon else int(first) + 1
    except ValueError:
        raise ValueError(f"rows {text!r} are malformed, expected A:B or A") from None


def main(argv=None, prog="python -m concise.dask"):
    import argparse
    parser = argparse.ArgumentParser(prog=prog,
                                     description="concise on a Dask cluster: one codes file per shard and a manifest.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("decompose", help="decompose shards on a cluster")
    p.add_argument("shards", nargs="+", help="shard files or folders, or a quoted glob")
    p.add_argument("-d", "--dictionary", required=True)
    p.add_argument("-o", "--output", required=True, help="folder for the codes files and manifest.json")
    p.add_argument("--scheduler", help="the Dask scheduler's address (default: a local cluster)")
    p.add_argument("--dataset", default="/embeddings")
    penalty = p.add_mutually_exclusive_group()
    penalty.add_argument("--l1", type=float)
    penalty.add_argument("--l0", type=int)
    p.add_argument("--l0-ratio", type=float, default=DEFAULTS["l0_ratio"])
    p.add_argument("--tol", type=float, default=DEFAULTS["tol"])
    p.add_argument("--solver", default=DEFAULTS["solver"])
    p.add_argument("--device", default="auto")
    p.add_argument("--chunk", type=int, default=0)
    p.add_argument("--max-rounds", type=int, default=DEFAULTS["max_rounds"])
    p.add_argument("--threads", type=int, default=DEFAULTS["threads"], help="solver threads per task")
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no dashboard line")
    e = sub.add_parser("explain", help="a row's top concepts, from a manifest")
    e.add_argument("manifest")
    e.add_argument("rows", nargs="+", type=int)
    e.add_argument("--top", type=int, default=10)
    s = sub.add_parser("verify", help="check every codes file (and input shard) against the manifest")
    s.add_argument("manifest")
    s.add_argument("--rows", type=_row_range, metavar="A:B",
                   help="only the codes files holding these global rows (and no input shards)")
    s.add_argument("-q", "--quiet", action="store_true", help="say nothing when everything matches")
    args = parser.parse_args(argv)
    try:
        if args.command == "decompose":
            return _decompose_command(args)
        elif args.command == "explain":
            for row, concepts_ in zip(args.rows, explain(args.manifest, args.rows, top=args.top)):
                print(f"{row}: " + ", ".join(f"{n} {w:.3f}" for n, w in concepts_))
        elif args.rows is not None:
            verify(args.manifest, rows=args.rows)
            if not args.quiet:
                print(f"{args.manifest}: the codes files of rows {args.rows[0]}:{args.rows[1]} match")
        else:
            verify(args.manifest, inputs=True)
            if not args.quiet:
                print(f"{args.manifest}: every codes file and input shard matches")
    except (ManifestError, SchedulerError, OSError, ValueError, IndexError) as err:
        print(f"concise: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    # The tasks must come from the importable module, not this __main__ copy, so that
    # workers find them (and their dictionary cache) by name.
    from concise.dask import main as _main
    sys.exit(_main())
