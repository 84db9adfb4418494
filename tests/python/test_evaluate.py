"""`concise evaluate`: the zero-shot reference numbers on real CIFAR-10 rows, the files
it writes, retrieval, and the errors for bad input."""
import json
import os
import subprocess

import numpy as np
import pytest

# The LVIS names of the CIFAR-10 classes, in label order.
CIFAR_IN_LVIS = ["airplane", "car (automobile)", "bird", "cat", "deer", "dog", "frog", "horse", "cargo ship", "truck"]


@pytest.fixture(scope="module")
def cifar(data_dir, shared_data, tmp_path_factory, concise_bin):
    """The 200 CIFAR-10 rows (data that does not ship), their labels, the LVIS dictionary and the class head."""
    tmp = tmp_path_factory.mktemp("cifar")
    cifar10 = shared_data / "clip-vit-b32"
    emb = cifar10 / "cifar10_test200_embeddings.npy"
    subprocess.run([concise_bin, "dictionary", "build", "--embeddings", data_dir / "lvis_concepts.npy", "--names",
                    data_dir / "lvis_concepts.txt", "--image-mean", data_dir / "image_mean.npy", "-o",
                    tmp / "lvis.h5"], check=True, capture_output=True)
    names = (data_dir / "lvis_concepts.txt").read_text().splitlines()
    lvis = np.load(data_dir / "lvis_concepts.npy")
    np.save(tmp / "head.npy", lvis[[names.index(n) for n in CIFAR_IN_LVIS]])
    return {"embeddings": emb, "labels": cifar10 / "cifar10_test200_labels.npy", "dictionary": tmp / "lvis.h5",
            "head": tmp / "head.npy", "classes": cifar10 / "cifar10_classes.txt", "dir": tmp}


def test_zeroshot_reference_numbers(cifar, python_cli, tmp_path):
    out = tmp_path / "zs"
    proc = python_cli("evaluate", "zeroshot", "--embeddings", cifar["embeddings"], "--labels", cifar["labels"],
               "--class-embeddings", cifar["head"], "--class-names", cifar["classes"],
               "--dictionary", cifar["dictionary"], "--l1", "0.25", "0.1", "-o", out)
    assert "recomposed acc" in proc.stdout
    result = json.loads((out / "zeroshot.json").read_text())
    assert result["dense_accuracy"] == pytest.approx(0.88, abs=0.005)
    by_l1 = {s["l1"]: s for s in result["settings"]}
    assert by_l1[0.25]["accuracy"] == pytest.approx(0.84, abs=0.015)
    assert by_l1[0.1]["accuracy"] == pytest.approx(0.83, abs=0.015)
    assert by_l1[0.25]["mean_l0"] == pytest.approx(4.4, abs=0.5)
    assert 35 < by_l1[0.1]["mean_l0"] < 55
    assert 0.5 < by_l1[0.25]["cosine"] < by_l1[0.1]["cosine"] < 1
    assert 0.2 < by_l1[0.25]["cosine_centered"] < by_l1[0.1]["cosine_centered"] < 1
    csv_lines = (out / "zeroshot.csv").read_text().splitlines()
    assert csv_lines[0].startswith("l1,mean_l0,dense_accuracy,accuracy") and len(csv_lines) == 3
    assert (out / "zeroshot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "zeroshot.png").stat().st_size > 10_000
    assert b"<svg" in (out / "zeroshot.svg").read_bytes()[:2000]


def test_zeroshot_sweeps_target_sparsity(cifar, python_cli, tmp_path):
    """--l0 K: every row has at most K concepts, so the mean does too; each setting records
    its target and the mean of the rows' own lambdas (a larger K needs a smaller lambda)."""
    out = tmp_path / "zs"
    proc = python_cli("evaluate", "zeroshot", "--embeddings", cifar["embeddings"], "--labels", cifar["labels"],
                      "--class-embeddings", cifar["head"], "--dictionary", cifar["dictionary"], "--l0", "5", "20",
                      "--device", "cpu", "-o", out)
    assert "target l0" in proc.stdout
    settings = {s["l0_target"]: s for s in json.loads((out / "zeroshot.json").read_text())["settings"]}
    assert sorted(settings) == [5, 20]
    assert 1 < settings[5]["mean_l0"] <= 5 < settings[20]["mean_l0"] <= 20
    assert settings[20]["l1"] < settings[5]["l1"]
    assert settings[20]["accuracy"] > 0.6
    assert (out / "zeroshot.csv").read_text().splitlines()[0].startswith("l1,l0_target,mean_l0")


def test_l1_and_l0_sweeps_exclude_each_other(cifar, python_cli, tmp_path):
    proc = python_cli("evaluate", "zeroshot", "--embeddings", cifar["embeddings"], "--labels", cifar["labels"],
                      "--class-embeddings", cifar["head"], "--dictionary", cifar["dictionary"], "--l1", "0.1",
                      "--l0", "5", "-o", tmp_path / "zs", check=False)
    assert proc.returncode == 2 and "not allowed with argument" in proc.stderr
    assert not (tmp_path / "zs").exists()


def test_zeroshot_matches_a_numpy_reference(cifar, python_cli, tmp_path):
    """Recomposed accuracy computed here from the codes that `concise decompose` writes."""
    import h5py
    import scipy.sparse
    out = tmp_path / "zs"
    python_cli("evaluate", "zeroshot", "--embeddings", cifar["embeddings"], "--labels", cifar["labels"],
        "--class-embeddings", cifar["head"], "--dictionary", cifar["dictionary"], "--l1", "0.25", "-o", out)
    python_cli("decompose", cifar["embeddings"], "--dictionary", cifar["dictionary"], "--l1", "0.25", "--device", "cpu",
        "-o", tmp_path / "codes.h5")
    with h5py.File(cifar["dictionary"], "r") as f:
        atoms, mu = f["atoms"][:].astype(np.float64), f["image_mean"][:].astype(np.float64)
    with h5py.File(tmp_path / "codes.h5", "r") as f:
        g = f["codes"]
        w = scipy.sparse.csr_matrix((g["data"][:], g["indices"][:], g["indptr"][:]), shape=tuple(g.attrs["shape"]))
    rec = w.toarray() @ atoms
    norms = np.linalg.norm(rec, axis=1, keepdims=True)
    rec /= np.where(norms > 0, norms, 1)  # an empty code recomposes to the image mean
    rec += mu
    rec /= np.linalg.norm(rec, axis=1, keepdims=True)
    head = np.load(cifar["head"]).astype(np.float64)
    head /= np.linalg.norm(head, axis=1, keepdims=True)
    expected = np.mean(np.argmax(rec @ head.T, axis=1) == np.load(cifar["labels"]))
    got = json.loads((out / "zeroshot.json").read_text())["settings"][0]
    assert got["accuracy"] == pytest.approx(expected, abs=0.006)  # at most one row may flip within the solver tolerance
    assert got["mean_l0"] == pytest.approx(np.diff(w.indptr).mean(), abs=0.1)
    e = np.load(cifar["embeddings"]).astype(np.float64)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    assert got["cosine"] == pytest.approx(np.mean(np.sum(rec * e, axis=1)), abs=2e-3)
    z = e - mu
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    approx = w.toarray() @ atoms
    n = np.linalg.norm(approx, axis=1)
    cos = np.where(n > 0, np.sum(approx * z, axis=1) / np.where(n > 0, n, 1), 0)
    assert got["cosine_centered"] == pytest.approx(cos.mean(), abs=2e-3)


def test_retrieval_dense_sparse_and_recomposed(cifar, python_cli, tmp_path):
    out = tmp_path / "rt"
    proc = python_cli("evaluate", "retrieval", "--embeddings", cifar["embeddings"], "--labels", cifar["labels"],
               "--class-embeddings", cifar["head"], "--dictionary", cifar["dictionary"], "--l1", "0.25", "-o", out)
    assert "sparse index" in proc.stdout
    rows = json.loads((out / "retrieval.json").read_text())["results"]
    got = {(r["direction"], r["system"]): r for r in rows}
    assert set(got) == {(d, s) for d in ("image-to-image", "text-to-image")
                        for s in ("dense", "recomposed", "sparse index")}
    # Dense image-to-image precision@1 from first principles.
    e = np.load(cifar["embeddings"]).astype(np.float64)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    sims = e @ e.T
    np.fill_diagonal(sims, -np.inf)
    labels = np.load(cifar["labels"])
    assert got[("image-to-image", "dense")]["precision@1"] == pytest.approx(np.mean(labels[sims.argmax(1)] == labels))
    for r in rows:
        for k in (1, 5, 10):
            assert 0 <= r[f"precision@{k}"] <= r[f"recall@{k}"] <= 1
        assert r["recall@1"] <= r["recall@5"] <= r["recall@10"]
    assert got[("image-to-image", "sparse index")]["precision@10"] > 0.5
    assert got[("text-to-image", "dense")]["precision@10"] > 0.7
    assert (out / "retrieval.png").stat().st_size > 10_000 and (out / "retrieval.svg").exists()


@pytest.mark.parametrize("problem", ["labels", "head_dim", "label_range"])
def test_bad_input_is_refused_without_output(cifar, python_cli, tmp_path, problem):
    args = {"--embeddings": cifar["embeddings"], "--labels": cifar["labels"], "--class-embeddings": cifar["head"],
            "--dictionary": cifar["dictionary"]}
    if problem == "labels":
        np.save(tmp_path / "short.npy", np.load(cifar["labels"])[:150])
        args["--labels"], expected = tmp_path / "short.npy", ["short.npy", "150 labels", "200 rows"]
    elif problem == "head_dim":
        np.save(tmp_path / "head256.npy", np.ones((10, 256), dtype=np.float32))
        args["--class-embeddings"], expected = tmp_path / "head256.npy", ["head256.npy", "dimension 256", "512"]
    else:
        np.save(tmp_path / "head3.npy", np.load(cifar["head"])[:3])
        args["--class-embeddings"], expected = tmp_path / "head3.npy", ["label 9", "3 classes"]
    out = tmp_path / "out"
    flat = [str(x) for kv in args.items() for x in kv]
    for task in ("zeroshot", "retrieval"):
        proc = python_cli("evaluate", task, *flat, "-o", out, check=False)
        assert proc.returncode == 2, proc.stderr
        for text in expected:
            assert text in proc.stderr
        assert not out.exists()


def test_missing_python_package_is_a_clear_failure(concise_bin, tmp_path):
    env = dict(os.environ, CONCISE_PYTHON="/usr/bin/python3", PYTHONPATH="", PYTHONNOUSERSITE="1")
    proc = subprocess.run([concise_bin, "evaluate", "zeroshot", "--help"], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    if proc.returncode == 0:
        pytest.skip("the system Python has the concise package")
    assert proc.returncode == 1
    assert "pip install" in proc.stderr and "CONCISE_PYTHON" in proc.stderr


def test_help_comes_from_python(python_cli):
    proc = python_cli("evaluate", "zeroshot", "--help")
    assert "--class-embeddings" in proc.stdout and "--l1" in proc.stdout


def test_class_head_from_names_and_an_encoder(python_cli, run, concise_bin, data_dir, tmp_path, monkeypatch):
    """--class-names with --model encodes the prompts with the CLI's encoders; the result
    equals passing the same prompts' embeddings with --class-embeddings."""
    version = subprocess.run([concise_bin, "--version"], capture_output=True, text=True).stdout
    if "(CLIP encoders): plugin " not in version:
        pytest.skip(f"this concise has no LibTorch encoders ({version.strip()})")
    import h5py
    from conftest import ROOT
    tiny = ROOT / "tests" / "fixtures" / "tiny_clip"
    monkeypatch.setenv("CONCISE_CLIP_BPE", str(data_dir.parent / "bpe_simple_vocab_16e6.txt.gz"))
    classes = ["cat", "dog", "car", "tree"]
    (tmp_path / "classes.txt").write_text("\n".join(classes) + "\n")
    (tmp_path / "prompts.txt").write_text("".join(f"a picture of a {c}\n" for c in classes))
    run("embed", "--text", tmp_path / "prompts.txt", "--model", tiny, "--device", "cpu", "-o", tmp_path / "head.h5")
    with h5py.File(tmp_path / "head.h5", "r") as f:
        head = f["embeddings"][:]
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(4), 25)
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "emb.npy", (head[labels] + 0.05 * rng.normal(size=(100, head.shape[1]))).astype(np.float32))
    np.save(tmp_path / "atoms.npy", rng.normal(size=(50, head.shape[1])).astype(np.float32))
    (tmp_path / "names.txt").write_text("".join(f"concept {i}\n" for i in range(50)))
    run("dictionary", "build", "--embeddings", tmp_path / "atoms.npy", "--names", tmp_path / "names.txt",
        "-o", tmp_path / "dict.h5")
    common = ["--embeddings", tmp_path / "emb.npy", "--labels", tmp_path / "labels.npy", "--dictionary",
              tmp_path / "dict.h5", "--l1", "0.1", "--device", "cpu"]
    python_cli("evaluate", "zeroshot", *common, "--class-names", tmp_path / "classes.txt", "--model", tiny,
               "--encoder-device", "cpu", "--prompt", "a picture of a {}", "-o", tmp_path / "by_names")
    python_cli("evaluate", "zeroshot", *common, "--class-embeddings", tmp_path / "head.h5", "-o", tmp_path / "by_file")
    by_names = json.loads((tmp_path / "by_names" / "zeroshot.json").read_text())
    by_file = json.loads((tmp_path / "by_file" / "zeroshot.json").read_text())
    assert by_names["classes"] == classes
    # The tiny random encoder maps some prompts to the same direction, so only equality is asserted.
    assert by_names["dense_accuracy"] == by_file["dense_accuracy"] >= 0.5
    assert by_names["settings"][0]["accuracy"] == by_file["settings"][0]["accuracy"]
