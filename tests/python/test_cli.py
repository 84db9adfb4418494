"""End-to-end tests of the concise command line: formats, bad input, resume."""
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest
import scipy.sparse


def read_csr(path):
    with h5py.File(path, "r") as f:
        g = f["codes"]
        shape = tuple(g.attrs["shape"])
        return scipy.sparse.csr_matrix((g["data"][:], g["indices"][:], g["indptr"][:]), shape=shape)


def atoms_of(path):
    with h5py.File(path, "r") as f:
        return f["atoms"][:].astype(np.float64)


def preprocess(e, mu=None):
    z = e / np.linalg.norm(e, axis=1, keepdims=True)
    if mu is not None:
        z = z - mu
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
    return z


def objective(z, codes, atoms, l1):
    w = codes.toarray().astype(np.float64)
    r = z - w @ atoms
    return (r * r).sum(axis=1) + l1 * w.sum(axis=1)


def test_codes_open_with_h5py_scipy_and_anndata(synthetic, run):
    out = synthetic / "codes.h5"
    run("decompose", synthetic / "emb.npy", "--dictionary", synthetic / "dict.h5", "-o", out)
    codes = read_csr(out)
    assert codes.shape == (300, 400)
    assert codes.nnz > 0 and (codes.data > 0).all()
    try:
        from anndata.io import read_elem
    except ImportError:  # anndata < 0.11
        from anndata.experimental import read_elem
    with h5py.File(out, "r") as f:
        ad = read_elem(f["codes"])
        assert (ad != codes).nnz == 0
        assert f["concepts"].asstr()[3] == "concept 3"
        assert f.attrs["complete"] == 1 and f.attrs["rows_done"] == 300
        np.testing.assert_array_equal(f["stats/l0"][:], np.diff(codes.indptr))
        gap, obj = f["stats/gap"][:], f["stats/objective"][:]
        assert (gap <= 1e-4 * obj * (1 + 1e-6)).all()


@pytest.mark.parametrize("solver", ["fista", "admm", "ws"])
def test_solvers_agree_with_scikit_learn(synthetic, run, solver):
    from sklearn.linear_model import Lasso
    out = synthetic / f"codes_{solver}.h5"
    run("decompose", synthetic / "emb.npy", "--dictionary", synthetic / "dict.h5", "--solver", solver,
        "--tol", "1e-5", "-o", out)
    atoms = atoms_of(synthetic / "dict.h5")
    z = preprocess(np.load(synthetic / "emb.npy").astype(np.float64))[:40]
    mine = objective(z, read_csr(out)[:40], atoms, 0.25)
    d = atoms.shape[1]
    ref = []
    for row in z:  # SpLiCE's sklearn path: alpha = l1 / (2 d)
        model = Lasso(alpha=0.25 / (2 * d), positive=True, fit_intercept=False, tol=1e-10, max_iter=100000)
        model.fit(atoms.T, row)
        w = model.coef_
        ref.append(((row - w @ atoms) ** 2).sum() + 0.25 * w.sum())
    np.testing.assert_allclose(mine, ref, rtol=1e-4)
    assert (mine <= np.array(ref) * (1 + 1e-5)).all()


def test_real_photos_through_cli(data_dir, run, tmp_path):
    run("dictionary", "build", "--embeddings", data_dir / "lvis_concepts.npy", "--names", data_dir / "lvis_concepts.txt",
        "--image-mean", data_dir / "image_mean.npy", "--model-name", "openai/clip-vit-base-patch32", "-o", tmp_path / "d.h5")
    run("decompose", data_dir / "image_embeddings.npy", "--dictionary", tmp_path / "d.h5", "--l1", "0.25",
        "-o", tmp_path / "c.h5")
    shown = run("explain", tmp_path / "c.h5", "--rows", "0:7", "--top", "1",
                "--labels", data_dir / "image_embeddings.txt").stdout
    blocks = dict(zip([l.split()[2] for l in shown.splitlines() if l.startswith("row")],
                      [l.split(None, 1)[1] for l in shown.splitlines() if l.startswith("    ")]))
    assert blocks["123_456.jpg"] == "cat"
    assert blocks["456_123.jpg"] == "kitten"
    assert blocks["389_535.jpg"] == "street sign"
    assert blocks["321_421.jpg"] == "coconut"
    # Recompose matches SpLiCE's formula and the stored cosine; zeroing "cat" changes row 0 only there.
    mu = np.load(data_dir / "image_mean.npy").astype(np.float64)
    run("recompose", tmp_path / "c.h5", "--dictionary", tmp_path / "d.h5", "-o", tmp_path / "dense.h5")
    run("recompose", tmp_path / "c.h5", "--dictionary", tmp_path / "d.h5", "--zero", "cat", "-o", tmp_path / "nocat.h5")
    codes, atoms = read_csr(tmp_path / "c.h5"), atoms_of(tmp_path / "d.h5")
    v = codes.toarray() @ atoms
    v = v / np.linalg.norm(v, axis=1, keepdims=True) + mu
    expected = v / np.linalg.norm(v, axis=1, keepdims=True)
    with h5py.File(tmp_path / "dense.h5") as f, h5py.File(tmp_path / "nocat.h5") as g, h5py.File(tmp_path / "c.h5") as c:
        np.testing.assert_allclose(f["embeddings"][:], expected, atol=1e-5)
        e = preprocess(np.load(data_dir / "image_embeddings.npy").astype(np.float64))
        np.testing.assert_allclose((f["embeddings"][:] * e).sum(axis=1), c["stats/cosine"][:], atol=1e-5)
        # The centered cosine: C^T w against the centered embedding, what the solver explains.
        z = preprocess(np.load(data_dir / "image_embeddings.npy").astype(np.float64), mu)
        fit = codes.toarray() @ atoms
        centered = (fit * z).sum(axis=1) / np.linalg.norm(fit, axis=1)
        np.testing.assert_allclose(c["stats/centered_cosine"][:], centered, atol=1e-4)
        assert (c["stats/centered_cosine"][:] < c["stats/cosine"][:]).all()
        changed = np.abs(g["embeddings"][:] - f["embeddings"][:]).max(axis=1) > 1e-6
        cat = list(c["concepts"].asstr()[:]).index("cat")
        assert changed.tolist() == (codes[:, cat].toarray().ravel() > 0).tolist()


def test_resume_after_max_chunks_gives_identical_file(synthetic, run):
    args = ["decompose", synthetic / "emb.npy", "--dictionary", synthetic / "dict.h5", "--chunk", "64"]
    run(*args, "-o", synthetic / "whole.h5")
    out = synthetic / "parts.h5"
    first = run(*args, "--max-chunks", "2", "-o", out)
    assert "resume" in first.stdout
    assert not out.exists() and (synthetic / "parts.h5.partial").exists()
    with h5py.File(synthetic / "parts.h5.partial", "r") as f:
        assert f.attrs["rows_done"] == 128 and f.attrs["complete"] == 0
    second = run(*args, "-o", out)
    assert "resumed" in second.stdout
    assert not (synthetic / "parts.h5.partial").exists()
    assert_same_codes(synthetic / "whole.h5", out)


def assert_same_codes(a, b):
    with h5py.File(a, "r") as f, h5py.File(b, "r") as g:
        for name in ["codes/data", "codes/indices", "codes/indptr", "stats/l0", "stats/gap", "stats/cosine",
                     "stats/centered_cosine"]:
            np.testing.assert_array_equal(f[name][:], g[name][:], err_msg=name)


def test_resume_after_kill_gives_identical_file(tmp_path, run, concise_bin):
    rng = np.random.default_rng(1)
    c, d, n = 3000, 128, 6000
    np.save(tmp_path / "text.npy", (2.0 + rng.normal(size=(c, d))).astype(np.float32))
    (tmp_path / "names.txt").write_text("".join(f"c{k}\n" for k in range(c)))
    run("dictionary", "build", "--embeddings", tmp_path / "text.npy", "--names", tmp_path / "names.txt", "-o", tmp_path / "d.h5")
    np.save(tmp_path / "e.npy", rng.normal(size=(n, d)).astype(np.float32))
    args = [concise_bin, "decompose", tmp_path / "e.npy", "--dictionary", tmp_path / "d.h5", "--chunk", "200"]
    subprocess.run([*map(str, args), "-o", str(tmp_path / "whole.h5")], check=True, capture_output=True)
    proc = subprocess.Popen([*map(str, args), "-o", str(tmp_path / "k.h5")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    subprocess.run([*map(str, args), "-o", str(tmp_path / "k.h5")], check=True, capture_output=True)
    assert_same_codes(tmp_path / "whole.h5", tmp_path / "k.h5")


def write_h5(path, name, array):
    with h5py.File(path, "w") as f:
        f[name] = array


def bad_input_cases(tmp):
    good = np.ones((4, 64), np.float32)
    nan = good.copy()
    nan[2, 5] = np.nan
    inf = good.copy()
    inf[3, 0] = np.inf
    zero = good.copy()
    zero[1] = 0
    np.save(tmp / "nan.npy", nan)
    write_h5(tmp / "inf.h5", "embeddings", inf)
    np.save(tmp / "zero.npy", zero)
    np.save(tmp / "dim.npy", np.ones((4, 32), np.float32))
    np.save(tmp / "empty.npy", np.ones((0, 64), np.float32))
    np.save(tmp / "ok.npy", good)
    raw = (tmp / "ok.npy").read_bytes()
    (tmp / "truncated.npy").write_bytes(raw[: len(raw) // 2])
    write_h5(tmp / "ok.h5", "embeddings", good)
    raw = (tmp / "ok.h5").read_bytes()
    (tmp / "corrupt.h5").write_bytes(raw[:800])
    write_h5(tmp / "noatoms.h5", "something", good)
    return {
        "nan": (["nan.npy"], ["nan.npy", "row 2", "NaN or Inf"]),
        "inf": (["inf.h5"], ["inf.h5", "/embeddings", "row 3", "NaN or Inf"]),
        "zero row": (["zero.npy"], ["zero.npy", "row 1", "all zeros"]),
        "dimension": (["dim.npy"], ["dim.npy", "dimension 32", "expected 64"]),
        "empty": (["empty.npy"], ["empty.npy", "empty input"]),
        "truncated npy": (["truncated.npy"], ["truncated.npy", "truncated"]),
        "corrupt hdf5": (["corrupt.h5"], ["corrupt.h5", "corrupt"]),
        "missing dataset": (["ok.h5", "--dataset", "/emb"], ["ok.h5", "'/emb'", "not found", "1 dataset: /embeddings"]),
        "negative l1": (["ok.npy", "--l1", "-0.5"], ["l1 must be", "-0.5"]),
        "negative tol": (["ok.npy", "--tol", "-1"], ["tol must be"]),
        "dictionary without atoms": (["ok.npy", "--dictionary", "noatoms.h5"],
                                     ["noatoms.h5", "/atoms", "not found", "1 dataset: /something"]),
    }


@pytest.mark.parametrize("case", ["nan", "inf", "zero row", "dimension", "empty", "truncated npy", "corrupt hdf5",
                                  "missing dataset", "negative l1", "negative tol", "dictionary without atoms"])
def test_bad_input_is_a_clear_error_and_writes_nothing(synthetic, run, case):
    cases = bad_input_cases(synthetic)
    args, expected = cases[case]
    argv = [synthetic / args[0], *args[1:]]
    if "--dictionary" in args:
        argv[argv.index("--dictionary") + 1] = synthetic / argv[argv.index("--dictionary") + 1]
    else:
        argv += ["--dictionary", synthetic / "dict.h5"]
    proc = run("decompose", *argv, "-o", synthetic / "out.h5", check=False)
    assert proc.returncode == 2
    for fragment in expected:
        assert fragment in proc.stderr, (fragment, proc.stderr)
    assert not (synthetic / "out.h5").exists()
    assert not (synthetic / "out.h5.partial").exists()


def test_recompose_rejects_unknown_concept(synthetic, run):
    run("decompose", synthetic / "emb.npy", "--dictionary", synthetic / "dict.h5", "-o", synthetic / "c.h5")
    proc = run("recompose", synthetic / "c.h5", "--dictionary", synthetic / "dict.h5", "--zero", "unicorn",
               "-o", synthetic / "r.h5", check=False)
    assert proc.returncode == 2 and "'unicorn' is not in the dictionary" in proc.stderr
    assert "did you mean" not in proc.stderr  # nothing close
    proc = run("recompose", synthetic / "c.h5", "--dictionary", synthetic / "dict.h5", "--zero", "Concept 12",
               "-o", synthetic / "r.h5", check=False)
    assert proc.returncode == 2
    assert "'Concept 12' is not in the dictionary" in proc.stderr and "did you mean 'concept 12'" in proc.stderr
    assert not (synthetic / "r.h5").exists()


def test_inputs_in_float16_float64_hdf5_and_shards_agree(synthetic, run):
    e = np.load(synthetic / "emb.npy")[:50].astype(np.float16)
    np.save(synthetic / "h.npy", e)
    write_h5(synthetic / "h.h5", "embeddings", e.astype(np.float64))
    shards = synthetic / "shards"
    shards.mkdir()
    for i, part in enumerate(np.array_split(e, 3)):
        np.save(shards / f"img_emb_{i}.npy", part)
    outs = []
    for name, src in [("a", synthetic / "h.npy"), ("b", synthetic / "h.h5"), ("c", shards)]:
        run("decompose", src, "--dictionary", synthetic / "dict.h5", "-o", synthetic / f"{name}.h5")
        outs.append(read_csr(synthetic / f"{name}.h5"))
    assert (outs[0] != outs[1]).nnz == 0 and (outs[0] != outs[2]).nnz == 0


def test_progress_is_quiet_in_pipes(synthetic, run):
    proc = run("decompose", synthetic / "emb.npy", "--dictionary", synthetic / "dict.h5", "-o", synthetic / "c.h5")
    assert proc.stderr == ""
    assert "rows/s" in proc.stdout
