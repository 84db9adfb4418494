"""Dictionary learning: concise.DictionaryLearner and `concise dictionary learn`."""
import os
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest
import scipy.sparse

import concise


def planted(k=24, d=48, n=2400, noise=0.01, seed=0):
    """Rows that are sparse nonnegative mixtures (3 atoms) of a known unit-norm dictionary, plus noise."""
    rng = np.random.default_rng(seed)
    atoms = rng.normal(size=(k, d))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    codes = np.zeros((n, k))
    for i in range(n):
        codes[i, rng.choice(k, 3, replace=False)] = rng.uniform(0.5, 1.5, 3)
    rows = codes @ atoms + noise * rng.normal(size=(n, d))
    return atoms, rows.astype(np.float32)


def recovered(truth, learned, cosine=0.99):
    learned = learned / np.linalg.norm(learned, axis=1, keepdims=True)
    return (np.abs(truth @ learned.T).max(axis=1) > cosine).mean()


def objective(z, codes, atoms, l1):
    w = codes.toarray().astype(np.float64)
    r = z - w @ atoms
    return ((r * r).sum(axis=1) + l1 * w.sum(axis=1)).mean()


def test_fit_recovers_planted_atoms_and_transform_codes_them():
    truth, rows = planted()
    model = concise.DictionaryLearner(24, l1=0.2, epochs=10, batch_size=256, seed=3, preprocess=False).fit(rows)
    assert model.components_.shape == (24, 48)
    assert recovered(truth, model.components_) >= 0.95
    np.testing.assert_allclose(np.linalg.norm(model.components_, axis=1), 1, atol=1e-5)
    assert len(model.objective_) == 10 and model.objective_[-1] < model.objective_[0]
    codes = model.transform(rows[:100])
    assert isinstance(codes, scipy.sparse.csr_matrix) and codes.shape == (100, 24)
    assert (codes.data > 0).all()
    assert [a["name"] for a in model.atoms_] == [f"learned_{j}" for j in range(24)]
    assert all(0 < a["usage"] < 0.3 and len(a["top_rows"]) == 5 for a in model.atoms_)


def test_same_seed_same_atoms_other_seed_other_order():
    _, rows = planted(k=8, d=16, n=400, seed=1)
    fit = lambda seed: concise.DictionaryLearner(8, l1=0.2, epochs=2, batch_size=64, seed=seed,
                                                 preprocess=False).fit(rows).components_
    np.testing.assert_array_equal(fit(5), fit(5))
    assert not np.array_equal(fit(5), fit(6))


def test_partial_fit_streams_and_lowers_the_objective():
    truth, rows = planted(seed=2)
    model = concise.DictionaryLearner(24, l1=0.2, batch_size=256, seed=1, preprocess=False)
    for epoch in range(6):
        for first in range(0, len(rows), 800):
            model.partial_fit(rows[first:first + 800])
    assert model.objective_[-1] < 0.8 * model.objective_[0]
    assert recovered(truth, model.components_) >= 0.8
    with pytest.raises(ValueError, match="dimension 10, expected 48"):
        model.partial_fit(rows[:5, :10])


def test_l0_codes_have_at_most_l0_atoms_and_learn_the_planted_atoms():
    truth, rows = planted(seed=7)
    with pytest.raises(ValueError, match="not both"):
        concise.DictionaryLearner(24, l1=0.2, l0=3)
    model = concise.DictionaryLearner(24, l0=3, epochs=8, batch_size=256, seed=3, preprocess=False).fit(rows)
    codes = model.transform(rows[:300])
    per_row = np.diff(codes.indptr)
    assert per_row.max() <= 3 and per_row.mean() > 2
    assert recovered(truth, model.components_, cosine=0.98) >= 0.9


def test_cli_l0_learns_with_a_target_sparsity(run, tmp_path):
    _, rows = planted(k=12, d=32, n=1200, seed=8)
    np.save(tmp_path / "rows.npy", rows)
    out = run("dictionary", "learn", tmp_path / "rows.npy", "--atoms", 12, "--l0", 2, "--epochs", 3, "--batch", 256,
              "-q", "-o", tmp_path / "l0.h5").stdout
    mean_l0 = float(out.split("mean l0 ")[1].split()[0])
    assert 1 <= mean_l0 <= 2, out
    both = run("dictionary", "learn", tmp_path / "rows.npy", "--atoms", 12, "--l0", 2, "--l1", 0.1,
               "-o", tmp_path / "both.h5", check=False)
    assert both.returncode != 0 and "excludes" in both.stderr and not (tmp_path / "both.h5").exists()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_objective_is_no_worse_than_scikit_learn():
    from sklearn.decomposition import MiniBatchDictionaryLearning
    truth, rows = planted(k=16, d=32, n=1500, noise=0.05, seed=4)
    z = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    l1 = 0.2
    mine = concise.DictionaryLearner(16, l1=l1, epochs=5, batch_size=256, seed=0, preprocess=False).fit(z)
    ours = objective(z, mine.transform(z), mine.components_.astype(np.float64), l1)
    # scikit-learn's objective is 0.5 ||x - u V||^2 + alpha ||u||_1: alpha = lambda / 2.
    sk = MiniBatchDictionaryLearning(16, alpha=l1 / 2, batch_size=256, max_iter=5, positive_code=True, fit_algorithm="cd",
                                     transform_algorithm="lasso_cd", transform_alpha=l1 / 2, random_state=0)
    sk.fit(z)
    # Score scikit-learn's atoms with our certified codes, so both are judged by the same coder.
    theirs_dict = concise.Dictionary.from_atoms(sk.components_.astype(np.float32))
    theirs_codes = concise.Decomposer(theirs_dict, l1=l1, device="cpu").decompose(z, preprocess=False)
    theirs = objective(z, theirs_codes, sk.components_.astype(np.float64), l1)
    assert ours <= theirs * 1.02, (ours, theirs)


def test_cli_learns_residual_atoms_on_real_photos(data_dir, shared_data, run, tmp_path):
    """150 CIFAR-10 rows teach 32 residual atoms on top of LVIS; the other 50 are explained
    far better at the same lambda, zero-shot accuracy does not fall, LVIS stays bit for bit."""
    run("dictionary", "build", "--embeddings", data_dir / "lvis_concepts.npy", "--names",
        data_dir / "lvis_concepts.txt", "--image-mean", data_dir / "image_mean.npy", "-o", tmp_path / "lvis.h5")
    embeddings = np.load(shared_data / "clip-vit-b32" / "cifar10_test200_embeddings.npy")
    labels = np.load(shared_data / "clip-vit-b32" / "cifar10_test200_labels.npy")
    np.save(tmp_path / "train.npy", embeddings[:150])
    np.save(tmp_path / "test.npy", embeddings[150:])
    l1 = "0.1"
    out = run("dictionary", "learn", tmp_path / "train.npy", "--init", tmp_path / "lvis.h5", "--atoms", 32,
              "--l1", l1, "--epochs", 10, "--batch", 150, "--seed", 0, "-o", tmp_path / "learned.h5")
    assert "1203 fixed + 32 learned atoms" in out.stdout
    with h5py.File(tmp_path / "lvis.h5") as a, h5py.File(tmp_path / "learned.h5") as b:
        assert b["atoms"].shape == (1235, 512)
        assert np.array_equal(a["atoms"][:].view(np.uint32), b["atoms"][:1203].view(np.uint32))
        assert list(b["concepts"].asstr()[1203:]) == [f"learned_{j}" for j in range(32)]
        np.testing.assert_array_equal(b["learned/atoms"][:], np.arange(1203, 1235))
        nearest = b["learned/nearest_concepts"].asstr()[:].reshape(32, -1)
        assert nearest.shape[1] == 5 and all(name for name in nearest.ravel())

    names = (data_dir / "lvis_concepts.txt").read_text().splitlines()
    raw = np.load(data_dir / "lvis_concepts.npy")
    classes = ["airplane", "car (automobile)", "bird", "cat", "deer", "dog", "frog", "horse", "cargo ship", "truck"]
    head = raw[[names.index(c) for c in classes]]
    head /= np.linalg.norm(head, axis=1, keepdims=True)
    result = {}
    for name in ("lvis", "learned"):
        run("decompose", tmp_path / "test.npy", "--dictionary", tmp_path / f"{name}.h5", "--l1", l1,
            "-o", tmp_path / f"codes_{name}.h5")
        run("recompose", tmp_path / f"codes_{name}.h5", "--dictionary", tmp_path / f"{name}.h5",
            "-o", tmp_path / f"recomposed_{name}.h5")
        with h5py.File(tmp_path / f"codes_{name}.h5") as f, h5py.File(tmp_path / f"recomposed_{name}.h5") as g:
            cosine = f["stats/cosine"][:].mean()
            accuracy = (np.argmax(g["embeddings"][:] @ head.T, axis=1) == labels[150:]).mean()
        result[name] = cosine, accuracy
    assert result["learned"][0] > result["lvis"][0] + 0.15, result
    assert result["learned"][1] >= result["lvis"][1], result

    shown = run("explain", tmp_path / "codes_learned.h5", "--dictionary", tmp_path / "learned.h5", "--rows", "0:5").stdout
    assert "learned_" in shown and " ~ {" in shown
    # The codes file keeps the learned atoms' descriptions: explain needs no dictionary to show them.
    assert run("explain", tmp_path / "codes_learned.h5", "--rows", "0:5").stdout == shown
    with h5py.File(tmp_path / "codes_lvis.h5") as f:
        assert "concept_descriptions" not in f  # a vocabulary alone needs none
    run("recompose", tmp_path / "codes_learned.h5", "--dictionary", tmp_path / "learned.h5", "--zero", "learned_0",
        "-o", tmp_path / "zeroed.h5")


def test_cli_killed_run_resumes_to_the_same_dictionary(run, concise_bin, tmp_path):
    _, rows = planted(k=48, d=64, n=20000, noise=0.05, seed=5)
    np.save(tmp_path / "rows.npy", rows)
    args = ["dictionary", "learn", tmp_path / "rows.npy", "--atoms", 48, "--l1", 0.2, "--epochs", 4, "--batch", 256,
            "--seed", 2]
    run(*args, "-o", tmp_path / "whole.h5")
    interrupted = tmp_path / "interrupted.h5"
    checkpoint = tmp_path / "interrupted.h5.checkpoint"
    proc = subprocess.Popen([concise_bin, *map(str, args), "-o", str(interrupted)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not checkpoint.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    if killed:
        assert not interrupted.exists()
        with h5py.File(checkpoint) as f:
            assert 1 <= f.attrs["epochs_done"] < 4
    resumed = run(*args, "-o", interrupted)
    assert not killed or "(resumed)" in resumed.stdout
    assert not checkpoint.exists()
    with h5py.File(tmp_path / "whole.h5") as a, h5py.File(interrupted) as b:
        assert np.array_equal(a["atoms"][:].view(np.uint32), b["atoms"][:].view(np.uint32))
        assert a.attrs["fingerprint"] == b.attrs["fingerprint"]


@pytest.mark.parametrize("case", ["no atoms", "other dimension", "nan row", "too few rows", "other settings"])
def test_cli_bad_input_exits_2_and_writes_nothing(run, tmp_path, case):
    _, rows = planted(k=8, d=16, n=100, seed=6)
    np.save(tmp_path / "rows.npy", rows)
    out = tmp_path / "out.h5"
    args = ["dictionary", "learn", tmp_path / "rows.npy", "--atoms", 8, "--epochs", 2, "-o", out]
    expected = {"no atoms": "atoms to learn must be >= 1", "other dimension": "dimension 24, expected 16",
                "nan row": "row 57: contains NaN", "too few rows": "fewer than the 101 atoms",
                "other settings": "checkpoint of a run with other settings"}[case]
    if case == "no atoms":
        args[4] = 0
    elif case == "too few rows":
        args[4] = 101
    elif case == "other dimension":
        np.save(tmp_path / "text.npy", np.random.default_rng(0).normal(size=(5, 24)).astype(np.float32))
        (tmp_path / "names.txt").write_text("a\nb\nc\nd\ne\n")
        run("dictionary", "build", "--embeddings", tmp_path / "text.npy", "--names", tmp_path / "names.txt",
            "-o", tmp_path / "dict24.h5")
        args += ["--init", tmp_path / "dict24.h5"]
    elif case == "nan row":
        rows[57, 3] = np.nan
        np.save(tmp_path / "rows.npy", rows)
    elif case == "other settings":
        stopped = run(*args, "--stop-after-epochs", 1)
        assert "rerun the same command to resume" in stopped.stdout
        args += ["--l1", 0.3]
    proc = run(*args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr
    assert not out.exists()


def test_sweeps_per_mini_batch_move_the_atoms_further():
    _, rows = planted(k=8, d=16, n=400, seed=9)
    fit = lambda sweeps: concise.DictionaryLearner(8, l1=0.2, epochs=1, batch_size=100, seed=2, sweeps=sweeps,
                                                   preprocess=False).fit(rows)
    one, three = fit(1), fit(3)
    assert not np.array_equal(one.components_, three.components_)
    np.testing.assert_array_equal(three.components_, fit(3).components_)
    with pytest.raises(ValueError, match="sweeps must be >= 1"):
        fit(0)
