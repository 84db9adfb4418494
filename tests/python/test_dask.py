"""concise.dask on a LocalCluster of 2 single-threaded worker processes."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed", reason="concise.dask needs dask[distributed] (requirements-dev.txt)")
h5py = pytest.importorskip("h5py")

import concise  # noqa: E402
import concise.dask as cd  # noqa: E402

D, C = 32, 200


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=40)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A dictionary and 10 small shards: 8 .npy, one HDF5, one clip-retrieval folder."""
    root = tmp_path_factory.mktemp("dask")
    rng = np.random.default_rng(1)
    text = (2.0 + rng.normal(size=(C, D))).astype(np.float32)
    mean = rng.normal(size=D).astype(np.float32)
    concise.Dictionary.build(text, [f"concept {k}" for k in range(C)], image_mean=mean).save(str(root / "dict.h5"))
    shards = []
    (root / "in").mkdir()
    for i, n in enumerate([37, 80, 5, 120, 64, 1, 90, 33]):
        p = root / "in" / f"part{i}.npy"
        np.save(p, (rng.normal(size=(n, D)) + 1.0).astype(np.float32))
        shards.append(str(p))
    with h5py.File(root / "in" / "part8.h5", "w") as f:
        f["embeddings"] = (rng.normal(size=(70, D)) + 1.0).astype(np.float32)
    shards.append(str(root / "in" / "part8.h5"))
    folder = root / "in" / "laion"
    folder.mkdir()
    for k in range(2):
        np.save(folder / f"img_emb_{k}.npy", (rng.normal(size=(25, D)) + 1.0).astype(np.float32))
    shards.append(str(folder))
    return root, shards


def reference(root, shards, chunk=0):
    """Each shard decomposed on its own by one process with one thread, as each worker
    runs (the solver's float sums depend on the thread count): the single-machine result."""
    ref = root / f"reference-{chunk}"
    if not ref.exists():
        ref.mkdir()
        jobs = [(s, str(ref / cd.codes_name(i, s))) for i, s in enumerate(shards)]
        script = ("import sys, json, concise\n"
                  "for shard, out in json.loads(sys.argv[1]):\n"
                  f"    concise.decompose_file(shard, {str(root / 'dict.h5')!r}, out, chunk={chunk})\n")
        subprocess.run([sys.executable, "-c", script, json.dumps(jobs)], check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    return ref


def assert_identical(out, ref, shards):
    for i, s in enumerate(shards):
        name = cd.codes_name(i, s)
        assert (pathlib.Path(out) / name).read_bytes() == (ref / name).read_bytes(), name


def test_equals_single_machine_run(client, workspace, tmp_path):
    root, shards = workspace
    manifest = cd.decompose_shards(shards, root / "dict.h5", tmp_path / "out", client=client, progress=False)
    assert_identical(tmp_path / "out", reference(root, shards), shards)
    assert manifest["rows"] == 37 + 80 + 5 + 120 + 64 + 1 + 90 + 33 + 70 + 50
    assert manifest["_run"]["ran"] == len(shards)
    on_disk = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [s["input"] for s in on_disk["shards"]] == [os.path.abspath(s) for s in shards]
    assert all(len(s["sha256"]) == 64 and len(s["identity"]) == 64 for s in on_disk["shards"])
    assert on_disk["settings"]["l1"] == cd.DEFAULTS["l1"]
    # Each worker loaded the dictionary once, however many shards it ran.
    assert all(n <= 1 for n in client.run(cd.worker_loads).values())

    # One dataset: the CSR over all shards, explain by global row, anndata lazily.
    import scipy.sparse
    decomposer = concise.Decomposer(str(root / "dict.h5"))
    single = scipy.sparse.vstack([cd._read_csr(reference(root, shards) / cd.codes_name(i, s))
                                  for i, s in enumerate(shards)], format="csr")
    codes = cd.load_csr(tmp_path / "out")
    assert codes.shape == (manifest["rows"], C)
    assert (codes != single).nnz == 0
    rows = [0, 36, 37, 122, 241, manifest["rows"] - 1]
    assert cd.explain(tmp_path / "out", rows, top=4) == decomposer.explain(single[rows], top=4)
    with pytest.raises(IndexError, match="out of range"):
        cd.explain(tmp_path / "out", [manifest["rows"]])
    summary = cd.summarize(tmp_path / "out")
    assert summary["rows"] == manifest["rows"] and summary["mean_l0"] == pytest.approx(single.nnz / manifest["rows"])
    anndata = pytest.importorskip("anndata")
    collection = cd.to_anndata(tmp_path / "out")
    assert collection.shape == (manifest["rows"], C)
    assert np.allclose(collection[5:45].X.toarray() if hasattr(collection[5:45].X, "toarray")
                       else collection[5:45].X, single[5:45].toarray())
    del anndata


def test_rerun_does_only_the_missing_work(client, workspace, tmp_path):
    root, shards = workspace
    out = tmp_path / "out"
    cd.decompose_shards(shards, root / "dict.h5", out, client=client, progress=False)
    again = cd.decompose_shards(shards, root / "dict.h5", out, client=client, progress=False)
    assert again["_run"]["ran"] == 0 and again["_run"]["skipped"] == len(shards)

    # A client that died before it recorded shards 3 and 4 (their codes files finished on
    # the workers) and before shards 6 and 7 were decomposed at all.
    m = json.loads((out / "manifest.json").read_text())
    for i in (3, 4, 6, 7):
        m["shards"][i]["sha256"] = m["shards"][i]["rows"] = None
    (out / "manifest.json").write_text(json.dumps(m))
    for i in (6, 7):
        (out / cd.codes_name(i, shards[i])).unlink()
    resumed = cd.decompose_shards(shards, root / "dict.h5", out, client=client, progress=False)
    assert resumed["_run"]["ran"] == 4
    assert resumed["_run"]["rows_this_run"] == 90 + 33  # shards 3 and 4 were only checked
    assert_identical(out, reference(root, shards), shards)


BIG = 20000


def big_shards(root, count=4, rows=BIG):
    folder = root / "big"
    if not folder.exists():
        folder.mkdir()
        rng = np.random.default_rng(7)
        for i in range(count):
            np.save(folder / f"big{i}.npy", (rng.normal(size=(rows, D)) + 1.0).astype(np.float32))
    return [str(folder / f"big{i}.npy") for i in range(count)]


def rows_done(partial):
    try:
        with h5py.File(partial, "r", locking=False) as f:  # read while the worker writes
            return int(f.attrs["rows_done"])
    except (OSError, KeyError):
        return 0


def test_worker_killed_mid_shard(client, workspace, tmp_path):
    root, _ = workspace
    shards = big_shards(root)
    out = tmp_path / "out"
    result = {}

    def decompose():
        try:
            result["m"] = cd.decompose_shards(shards, root / "dict.h5", out, client=client, chunk=500, progress=False)
        except BaseException as e:  # reported by the asserts below
            result["error"] = e
    job = threading.Thread(target=decompose)
    job.start()
    # Wait for a shard that has committed some chunks but not all, then SIGKILL its worker.
    victim, deadline = None, time.time() + 60
    while victim is None and time.time() < deadline and job.is_alive():
        for partial in out.glob("*.partial"):
            if 0 < rows_done(partial) < BIG // 2:
                victim = partial
                break
        time.sleep(0.02)
    assert victim is not None, f"no shard was seen half done ({result.get('error')!r})"
    killed = None
    for address, keys in client.processing().items():
        if keys:
            pid = client.run(os.getpid, workers=[address])[address]
            os.kill(pid, signal.SIGKILL)
            killed = address
            break
    assert killed is not None
    job.join(timeout=120)
    assert not job.is_alive() and "m" in result
    assert result["m"]["rows"] == 4 * BIG
    assert result["m"]["_run"]["resumed"] >= 1  # the killed shard went on from its .partial
    assert_identical(out, reference(root, shards, chunk=500), shards)
    client.wait_for_workers(2, timeout=60)


def test_rerun_after_a_killed_client(client, workspace, tmp_path):
    """A client killed mid-run (SIGKILL): the rerun keeps the shards it recorded, takes
    over what the orphaned tasks finish, resumes the rest from their .partial files."""
    root, _ = workspace
    shards = big_shards(root)
    out = tmp_path / "out"
    script = ("import json, sys\nfrom dask.distributed import Client\nimport concise.dask as cd\n"
              "cd.decompose_shards(json.loads(sys.argv[2]), sys.argv[3], sys.argv[4], client=Client(sys.argv[1]), "
              "chunk=500, progress=False)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, client.scheduler.address, json.dumps(shards),
                             str(root / "dict.h5"), str(out)])
    deadline = time.time() + 90
    try:
        while time.time() < deadline and proc.poll() is None:
            try:
                finished = [s for s in json.loads((out / "manifest.json").read_text())["shards"] if s["sha256"]]
            except (OSError, ValueError):
                finished = []
            if finished:
                break
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert 1 <= len(finished) < len(shards), "the client was not caught mid-run"
    manifest = cd.decompose_shards(shards, root / "dict.h5", out, client=client, chunk=500, progress=False)
    run = manifest["_run"]
    assert run["skipped"] >= len(finished) and run["ran"] == len(shards) - run["skipped"]
    assert run["rows_this_run"] < (len(shards) - len(finished)) * BIG  # partial and orphaned work kept
    assert_identical(out, reference(root, shards, chunk=500), shards)


def test_tampering_gives_a_clear_error(client, workspace, tmp_path):
    root, shards = workspace
    inputs = tmp_path / "in"
    shutil.copytree(root / "in", inputs)
    mine = [str(inputs / pathlib.Path(s).name) for s in shards]
    out = tmp_path / "out"
    cd.decompose_shards(mine, root / "dict.h5", out, client=client, progress=False)
    cd.verify(out, inputs=True)

    codes = out / cd.codes_name(2, mine[2])
    saved = codes.read_bytes()
    codes.write_bytes(saved[:-1] + bytes([saved[-1] ^ 1]))
    with pytest.raises(cd.ManifestError, match=f"{codes.name}.*changed"):
        cd.load_csr(out)
    first_row = sum(s["rows"] for s in cd.read_manifest(out)["shards"][:2])
    with pytest.raises(cd.ManifestError, match=f"{codes.name}.*changed"):
        cd.explain(out, [first_row])
    assert cd.explain(out, [0])  # the rows of other shards still read
    codes.unlink()
    with pytest.raises(cd.ManifestError, match=f"{codes.name}.*missing"):
        cd.verify(out)
    codes.write_bytes(saved)

    time.sleep(0.01)
    np.save(mine[1], np.ones((80, D), np.float32))  # same shape, other rows
    with pytest.raises(cd.ManifestError, match="part1.npy changed"):
        cd.verify(out, inputs=True)
    with pytest.raises(cd.ManifestError, match="part1.npy changed since its codes"):
        cd.decompose_shards(mine, root / "dict.h5", out, client=client, progress=False)
    os.unlink(mine[1])
    with pytest.raises(FileNotFoundError, match="part1.npy is missing"):
        cd.decompose_shards(mine, root / "dict.h5", out, client=client, progress=False)
    proc = subprocess.run([sys.executable, "-m", "concise.dask", "verify", str(out)], capture_output=True, text=True)
    assert proc.returncode == 2 and "part1.npy is missing" in proc.stderr
    with pytest.raises(cd.ManifestError, match="other settings"):
        cd.decompose_shards(mine[:1], root / "dict.h5", out, client=client, l1=0.5, progress=False)
    with pytest.raises(cd.ManifestError, match="no manifest"):
        cd.load_csr(tmp_path)


def test_dask_array_blocks(client, workspace, tmp_path):
    import dask.array as da
    root, _ = workspace
    x = (np.random.default_rng(3).normal(size=(150, D)) + 1.0).astype(np.float32)
    manifest = cd.decompose_shards(da.from_array(x, chunks=(40, 16)), root / "dict.h5", tmp_path / "out",
                                   client=client, progress=False)
    assert [s["rows"] for s in manifest["shards"]] == [40, 40, 40, 30]
    single = concise.Decomposer(str(root / "dict.h5")).decompose(x)  # this process's threads: equal to rounding
    codes = cd.load_csr(manifest)
    assert (codes.indptr == single.indptr).all() and (codes.indices == single.indices).all()
    np.testing.assert_allclose(codes.data, single.data, rtol=1e-5, atol=1e-7)
    assert sorted(os.listdir(tmp_path / "out" / "blocks")) == [f"block-{i:05d}.npy" for i in range(4)]


def test_command_line_one_liner(client, workspace, tmp_path):
    root, shards = workspace
    proc = subprocess.run([sys.executable, "-m", "concise.dask", "decompose", *shards[:3], "-d", str(root / "dict.h5"),
                           "-o", str(tmp_path / "out"), "--scheduler", client.scheduler.address],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "122 rows in 3 shards (3 decomposed, 0 already done; 122 rows this run" in proc.stdout
    assert_identical(tmp_path / "out", reference(root, shards), shards[:3])
    proc = subprocess.run([sys.executable, "-m", "concise.dask", "explain", str(tmp_path / "out"), "0", "--top", "2"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("0: concept ")


def test_distributed_learning_equals_in_process(client, workspace):
    root, shards = workspace
    npy = shards[:8]
    args = dict(n_atoms=6, l1=0.1, epochs=3, preprocess=True, image_mean=np.zeros(D, np.float32), chunk=100,
                seed=4, progress=False)
    atoms, fixed, objectives = cd.learn_dictionary(npy, client=client, **args)
    local_atoms, local_fixed, local_objectives = cd.learn_dictionary(npy, client=False, **args)
    assert fixed == local_fixed == 0 and atoms.shape == (6, D)
    np.testing.assert_array_equal(atoms, local_atoms)
    assert objectives == local_objectives
    assert objectives[-1] < objectives[0]
    np.testing.assert_allclose(np.linalg.norm(atoms, axis=1), 1.0, rtol=1e-5)


def test_atom_update_is_the_exact_block_minimizer():
    """Each atom step minimizes tr(D^T D A) - 2 tr(D^T B) over its unit-norm atom: no
    random unit vector does better, and a sweep never raises the objective."""
    rng = np.random.default_rng(5)
    w = np.abs(rng.normal(size=(50, 4))) * (rng.random((50, 4)) < 0.6)
    z = rng.normal(size=(50, 8))
    a, b = w.T @ w, w.T @ z
    atoms = rng.normal(size=(4, 8))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)

    def objective(d):
        return float(np.sum((z - w @ d) ** 2))

    updated = cd.update_atoms(atoms, 0, a, b, max_sweeps=1).astype(np.float64)
    assert objective(updated) <= objective(atoms) + 1e-9
    converged = cd.update_atoms(atoms, 0, a, b).astype(np.float64)
    for _ in range(200):
        trial = converged.copy()
        trial[2] = rng.normal(size=8)
        trial[2] /= np.linalg.norm(trial[2])
        assert objective(trial) >= objective(converged) - 1e-5


@pytest.mark.parametrize("residual", [False, True])
def test_learning_equals_the_single_process_learner_bit_for_bit(client, workspace, residual):
    """Blocks of 64 rows over shards of other sizes (blocks span shards), coded on two workers:
    the atoms and the objectives are the single-process learner's, bit for bit."""
    root, shards = workspace
    rows = np.concatenate([np.load(s) for s in shards[:8]])
    init = concise.Dictionary.load(str(root / "dict.h5")) if residual else None
    mean = None if residual else np.zeros(D, np.float32)
    settings = dict(l1=0.1, epochs=6, seed=3, image_mean=mean, chunk=64, init=init)
    learner = concise.DictionaryLearner(6, batch_size=len(rows), **settings).fit(rows)
    atoms, fixed, objectives = cd.learn_dictionary(shards[:8], 6, client=client, progress=False, **settings)
    assert fixed == (C if residual else 0)
    assert np.array_equal(atoms[fixed:].view(np.uint32), learner.components_.view(np.uint32))
    assert objectives == learner.objective_
    assert objectives[-1] < objectives[0]
