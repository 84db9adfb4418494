"""Target sparsity, round limits, lambda = 0 and the thread count, through the CLI and
the module, against SPAMS and scikit-learn where a reference exists."""
import subprocess
import sys

import h5py
import numpy as np
import pytest
import scipy.sparse

import concise


def lvis(run, data_dir, tmp_path):
    run("dictionary", "build", "--embeddings", data_dir / "lvis_concepts.npy", "--names",
        data_dir / "lvis_concepts.txt", "--image-mean", data_dir / "image_mean.npy", "-o", tmp_path / "lvis.h5")
    return tmp_path / "lvis.h5"


def preprocessed(raw, mean):
    z = raw / np.linalg.norm(raw, axis=1, keepdims=True) - mean
    return (z / np.linalg.norm(z, axis=1, keepdims=True)).astype(np.float32)


def cifar(shared_data, rows):
    return np.load(shared_data / "clip-vit-b32" / "cifar10_test200_embeddings.npy")[:rows]


def read_codes(path):
    with h5py.File(path) as f:
        g = f["codes"]
        codes = scipy.sparse.csr_matrix((g["data"][:], g["indices"][:], g["indptr"][:]), shape=g.attrs["shape"])
        return codes, {k: f["stats"][k][:] for k in f["stats"]}, dict(f.attrs)


def test_l0_rows_have_at_most_k_atoms_and_the_next_lambda_more(data_dir, shared_data, run, tmp_path):
    dictionary = lvis(run, data_dir, tmp_path)
    raw = cifar(shared_data, 24)
    np.save(tmp_path / "rows.npy", raw)
    k = 10
    proc = run("decompose", tmp_path / "rows.npy", "--dictionary", dictionary, "--l0", k, "--device", "cpu", "-q",
               "-o", tmp_path / "codes.h5")
    assert f"target l0 {k}" in proc.stdout
    codes, stats, attrs = read_codes(tmp_path / "codes.h5")
    assert attrs["l0"] == k and attrs["l0_ratio"] == pytest.approx(0.9)
    l0 = np.diff(codes.indptr)
    assert (l0 <= k).all() and (l0 > 0).all()
    assert (stats["at_limit"] == 0).all()
    # Each row's lambda, and the next one on the grid, solved with a fixed lambda by the module.
    d = concise.Dictionary.load(str(dictionary))
    z = preprocessed(raw, d.image_mean)
    for i in range(len(z)):
        lam = float(stats["l1"][i])
        same = concise.Decomposer(d, l1=lam, device="cpu").decompose(z[i:i + 1], preprocess=False)
        denser = concise.Decomposer(d, l1=lam * 0.9, device="cpu").decompose(z[i:i + 1], preprocess=False)
        assert same.nnz <= k, f"row {i} at lambda {lam}"
        assert denser.nnz > k, f"row {i} at lambda {lam} * 0.9"
    shown = run("explain", tmp_path / "codes.h5", "--rows", "0:2", "--top", "1").stdout
    assert f"lambda {stats['l1'][0]:.4g}" in shown


def test_l0_option_is_recorded_and_a_partial_with_another_is_refused(synthetic, run):
    args = ["decompose", synthetic / "emb.npy", "--dictionary", synthetic / "dict.h5", "--device", "cpu", "-q",
            "--chunk", 100, "-o", synthetic / "codes.h5"]
    run(*args, "--l0", 5, "--max-chunks", 1)
    assert (synthetic / "codes.h5.partial").exists()
    refused = run(*args, "--l0", 6, check=False)
    assert refused.returncode == 2
    assert "l0 5, this run uses 6" in refused.stderr
    refused = run(*args, "--l0", 5, "--l0-ratio", 0.8, check=False)
    assert refused.returncode == 2 and "l0 ratio" in refused.stderr
    run(*args, "--l0", 5)  # the same settings resume
    codes, stats, _ = read_codes(synthetic / "codes.h5")
    assert (np.diff(codes.indptr) <= 5).all()


def test_l0_and_l1_are_mutually_exclusive(synthetic, run):
    proc = run("decompose", synthetic / "emb.npy", "--dictionary", synthetic / "dict.h5", "--l0", 5, "--l1", 0.1,
               "-o", synthetic / "codes.h5", check=False)
    assert proc.returncode != 0 and "excludes" in proc.stderr.lower()
    d = concise.Dictionary.load(str(synthetic / "dict.h5"))
    with pytest.raises(ValueError, match="not both"):
        concise.Decomposer(d, l1=0.1, l0=5)


def test_lambda_zero_is_refused_naming_the_smallest_useful_lambda(synthetic, run):
    proc = run("decompose", synthetic / "emb.npy", "--dictionary", synthetic / "dict.h5", "--l1", 0,
               "-o", synthetic / "codes.h5", check=False)
    assert proc.returncode == 2
    assert "0.0001" in proc.stderr and "l0" in proc.stderr
    assert not (synthetic / "codes.h5").exists() and not (synthetic / "codes.h5.partial").exists()
    with pytest.raises(ValueError, match="0.0001"):
        concise.Decomposer(concise.Dictionary.load(str(synthetic / "dict.h5")), l1=0)


def test_rows_stopped_by_max_rounds_are_counted_named_and_marked(synthetic, run):
    proc = run("decompose", synthetic / "emb.npy", "--dictionary", synthetic / "dict.h5", "--l1", 0.002,
               "--max-rounds", 1, "--device", "cpu", "-q", "-o", synthetic / "codes.h5")
    codes, stats, attrs = read_codes(synthetic / "codes.h5")
    limited = np.flatnonzero(stats["at_limit"])
    assert len(limited) > 0 and attrs["max_rounds"] == 1
    assert f"note: {len(limited)} rows stopped at the round limit (--max-rounds)" in proc.stdout
    assert f"rows {limited[0]}, " in proc.stdout
    assert (stats["gap"][limited] > 1e-4 * stats["objective"][limited]).all()
    assert "--max-rounds" in run("decompose", "--help").stdout


def test_small_lambda_matches_spams_on_real_rows(data_dir, shared_data, run, tmp_path):
    spams = pytest.importorskip("spams")
    d = concise.Dictionary.load(str(lvis(run, data_dir, tmp_path)))
    z = preprocessed(cifar(shared_data, 8), d.image_mean)
    atoms = np.asarray(d.atoms, dtype=np.float64)
    for lam in (0.01, 0.05):
        codes, stats = concise.Decomposer(d, l1=lam, device="cpu").decompose(z, preprocess=False, return_stats=True)
        alpha = spams.lasso(np.asfortranarray(z.T.astype(np.float64)), D=np.asfortranarray(atoms.T), mode=2,
                            lambda1=lam / 2, lambda2=0.0, pos=True, numThreads=1)

        def objective(w):
            r = z.astype(np.float64) - w @ atoms
            return (r * r).sum(1) + lam * w.sum(1)

        mine, theirs = objective(codes.toarray().astype(np.float64)), objective(alpha.toarray().T)
        assert (mine <= theirs * (1 + 1e-5)).all(), f"lambda {lam}"
        np.testing.assert_allclose(mine, theirs, rtol=1e-4)
        assert (stats.gap <= 1e-4 * stats.objective * (1 + 1e-6)).all()
        if lam == 0.01:
            assert np.diff(codes.indptr).mean() > 200  # large supports


def test_threads_setting_survives_torch_import(synthetic):
    pytest.importorskip("torch")
    script = f"""
import ctypes, numpy as np, torch, concise
omp = ctypes.CDLL("libgomp.so.1")
before = omp.omp_get_max_threads()
d = concise.Dictionary.load({str(synthetic / 'dict.h5')!r})
z = np.load({str(synthetic / 'emb.npy')!r})
concise.Decomposer(d, l1=0.1, device="cpu", threads=2).decompose(z)
print(before, omp.omp_get_max_threads())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == out[1], "a solve changed the process's OpenMP thread count"
