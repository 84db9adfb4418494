"""The sparse index: exact top-k against scipy brute force (ties by row), the file
layout, `concise index build` / `concise search` with each kind of query, and errors."""
import re
import subprocess

import h5py
import numpy as np
import pytest
import scipy.sparse

import concise
from conftest import ROOT

TINY = ROOT / "tests" / "fixtures" / "tiny_clip"


def brute_force(codes, queries, k):
    """Scores in float64 summed in concept order (scipy's CSR product), sorted by
    score then row, positive scores only."""
    scores = (codes.astype(np.float64) @ queries.astype(np.float64).T).T.toarray()
    rows = np.full((queries.shape[0], k), -1)
    best = np.zeros((queries.shape[0], k))
    for q, s in enumerate(scores):
        order = np.lexsort((np.arange(len(s)), -s))
        order = [r for r in order[:k] if s[r] > 0]
        rows[q, :len(order)], best[q, :len(order)] = order, s[order]
    return rows, best


def tied_codes(rng, n, c, l0, skew):
    """Codes whose weights take four values, so that many scores tie exactly."""
    p = np.exp(-skew * np.arange(c) / c)
    p /= p.sum()
    rows, cols, vals = [], [], []
    for r in range(n):
        chosen = np.unique(rng.choice(c, size=rng.integers(1, 2 * l0), p=p))
        rows += [r] * len(chosen)
        cols += list(chosen)
        vals += list(rng.integers(1, 5, size=len(chosen)) * 0.125)
    return scipy.sparse.csr_matrix((np.array(vals, np.float32), (rows, cols)), shape=(n, c))


@pytest.mark.parametrize("skew", [0.0, 6.0])
def test_search_equals_brute_force_with_ties(skew):
    rng = np.random.default_rng(int(skew))
    codes = tied_codes(rng, 8000, 200, 6, skew)
    index = concise.SparseIndex.build(codes)
    queries = tied_codes(rng, 300, 200, 5, skew)
    queries.data = rng.choice(np.array([0.25, 0.5, 1.0], np.float32), size=queries.nnz)
    for k in (1, 10, 1000):
        rows, scores = index.search_codes(queries, k)
        ref_rows, ref_scores = brute_force(codes, queries, k)
        np.testing.assert_array_equal(rows, ref_rows)
        np.testing.assert_array_equal(scores, ref_scores)
    ties = np.sum(np.diff(scores, axis=1) == 0)
    assert ties > 1000, "the test must exercise tie-breaking by row"
    np.testing.assert_array_equal(index.brute_force_codes(queries, 10)[0], brute_force(codes, queries, 10)[0])


def test_search_by_concepts_like_and_embedding(tmp_path):
    rng = np.random.default_rng(0)
    c, d = 60, 32
    names = [f"concept {i}" for i in range(c)]
    dictionary = concise.Dictionary.build(rng.normal(size=(c, d)).astype(np.float32) + 2, names)
    decomposer = concise.Decomposer(dictionary, l1=0.1, device="cpu")
    emb = rng.normal(size=(500, d)).astype(np.float32)
    codes = decomposer.decompose(emb)
    index = concise.SparseIndex.build(codes, concepts=names, fingerprint=dictionary.fingerprint,
                                      names=[f"row{r}" for r in range(500)])
    hits = index.search(concepts="concept 3:1, concept 7:0.5", k=5)
    q = np.zeros((1, c), np.float32)
    q[0, 3], q[0, 7] = 1, 0.5
    assert [h.row for h in hits] == [r for r in brute_force(codes, scipy.sparse.csr_matrix(q), 5)[0][0] if r >= 0]
    assert hits[0].name == f"row{hits[0].row}"
    assert index.search(concepts={"concept 3": 1.0, "concept 7": 0.5}, k=5) == hits
    like = index.search(like=17, k=3)
    assert [h.row for h in like] == list(brute_force(codes, codes[17], 3)[0][0])
    by_embedding = index.search(embedding=emb[17], decomposer=decomposer, k=3)
    assert [h.row for h in by_embedding] == [h.row for h in like]  # the code of one row solved alone
    np.testing.assert_allclose([h.score for h in by_embedding], [h.score for h in like], rtol=1e-4)
    with pytest.raises(ValueError, match="did you mean 'concept 3"):
        index.search(concepts="concept 3x:1")
    with pytest.raises(ValueError, match="at least 1"):
        index.search(concepts="concept 3", k=0)
    other = concise.Dictionary.build(rng.normal(size=(c, d)).astype(np.float32) + 2, names)
    with pytest.raises(ValueError, match="built with dictionary"):
        index.search(embedding=emb[0], decomposer=concise.Decomposer(other, device="cpu"))
    index.save(tmp_path / "index.h5")
    loaded = concise.SparseIndex.load(tmp_path / "index.h5")
    assert loaded.search(like=17, k=3) == like and loaded.fingerprint == dictionary.fingerprint


@pytest.fixture
def indexed(synthetic, run):
    run("decompose", synthetic / "emb.npy", "--dictionary", synthetic / "dict.h5", "--l1", "0.1", "-o",
        synthetic / "codes.h5")
    proc = run("index", "build", synthetic / "codes.h5", "-o", synthetic / "index.h5")
    assert "300 rows" in proc.stdout
    with h5py.File(synthetic / "codes.h5", "r") as f:
        g = f["codes"]
        codes = scipy.sparse.csr_matrix((g["data"][:], g["indices"][:], g["indptr"][:]), shape=tuple(g.attrs["shape"]))
    return synthetic, codes


def parse_hits(stdout):
    return [(int(m.group(1)), float(m.group(2))) for m in re.finditer(r"^\s+\d+\s+(\d+)\s+([0-9.]+)", stdout, re.M)]


def test_index_file_is_csc_readable_by_scipy(indexed):
    tmp, codes = indexed
    with h5py.File(tmp / "index.h5", "r") as f:
        g = f["postings"]
        assert g.attrs["encoding-type"] == "csc_matrix" and g.attrs["order"] == "weight-descending"
        csc = scipy.sparse.csc_matrix((g["data"][:], g["indices"][:], g["indptr"][:]), shape=tuple(g.attrs["shape"]))
        assert (csc != codes).nnz == 0
        for col in range(csc.shape[1]):
            w = g["data"][g["indptr"][col]:g["indptr"][col + 1]]
            assert (np.diff(w) <= 0).all()
        ptr, bmax = f["blocks/ptr"][:], f["blocks/max"][:]
        assert f["blocks"].attrs["block_size"] == 64 and len(bmax) == ptr[-1]
        assert f.attrs["dictionary_fingerprint"] == h5py.File(tmp / "codes.h5", "r").attrs["dictionary_fingerprint"]


def test_cli_search_kinds(indexed, run):
    tmp, codes = indexed
    q = np.zeros((1, codes.shape[1]), np.float32)
    q[0, 3], q[0, 7] = 1, 0.5
    proc = run("search", tmp / "index.h5", "--concepts", "concept 3:1,concept 7:0.5", "-k", "5")
    ref_rows, ref_scores = brute_force(codes, scipy.sparse.csr_matrix(q), 5)
    got = parse_hits(proc.stdout)
    assert [r for r, _ in got] == [r for r in ref_rows[0] if r >= 0]
    np.testing.assert_allclose([s for _, s in got], ref_scores[0][:len(got)], rtol=1e-5)
    like = parse_hits(run("search", tmp / "index.h5", "--like", "12", "-k", "4").stdout)
    ref = brute_force(codes, codes[12], 4)[0][0]
    assert [r for r, _ in like] == list(ref)
    np.save(tmp / "q.npy", np.load(tmp / "emb.npy")[12])
    by_embedding = run("search", tmp / "index.h5", "--embedding", tmp / "q.npy", "--dictionary", tmp / "dict.h5",
                       "--l1", "0.1", "-k", "4").stdout
    assert parse_hits(by_embedding) == like


@pytest.mark.parametrize("problem", ["other_dictionary", "unknown_concept", "k0", "two_queries", "not_an_index"])
def test_cli_search_errors(indexed, run, problem):
    tmp, _ = indexed
    args = [tmp / "index.h5"]
    if problem == "other_dictionary":
        rng = np.random.default_rng(9)
        np.save(tmp / "other.npy", rng.normal(size=(400, 64)).astype(np.float32))
        run("dictionary", "build", "--embeddings", tmp / "other.npy", "--names", tmp / "names.txt",
            "-o", tmp / "other.h5")
        np.save(tmp / "q.npy", np.load(tmp / "emb.npy")[0])
        args += ["--embedding", tmp / "q.npy", "--dictionary", tmp / "other.h5"]
        expected = ["index.h5", "other.h5", "built with dictionary"]
    elif problem == "unknown_concept":
        args += ["--concepts", "concept 3:1,concpt 7:0.5"]
        expected = ["'concpt 7'", "did you mean 'concept 7'"]
    elif problem == "k0":
        args += ["--concepts", "concept 3", "-k", "0"]
        expected = ["k must be at least 1"]
    elif problem == "two_queries":
        args += ["--concepts", "concept 3", "--like", "3"]
        expected = ["exactly one of"]
    else:
        args = [tmp / "codes.h5", "--like", "1"]
        expected = ["codes.h5", "not a concise index"]
    proc = run("search", *args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    for text in expected:
        assert text in proc.stderr


def test_index_build_refuses_a_non_codes_file(synthetic, run):
    proc = run("index", "build", synthetic / "dict.h5", "-o", synthetic / "index.h5", check=False)
    assert proc.returncode == 2 and "dict.h5" in proc.stderr
    assert not (synthetic / "index.h5").exists()


def test_index_build_never_overwrites_its_input(indexed, run):
    tmp, _ = indexed
    before = (tmp / "codes.h5").read_bytes()
    proc = run("index", "build", tmp / "codes.h5", "-o", tmp / "codes.h5", check=False)
    assert proc.returncode == 2 and "overwrite" in proc.stderr
    assert (tmp / "codes.h5").read_bytes() == before


def test_cli_search_by_text(tmp_path, run, data_dir, concise_bin, monkeypatch):
    version = subprocess.run([concise_bin, "--version"], capture_output=True, text=True).stdout
    if "(CLIP encoders): plugin " not in version:
        pytest.skip(f"this concise has no LibTorch encoders ({version.strip()})")
    monkeypatch.setenv("CONCISE_CLIP_BPE", str(data_dir.parent / "bpe_simple_vocab_16e6.txt.gz"))
    words = ["cat", "dog", "car", "tree", "house", "boat", "bird", "flower", "road", "sky", "river", "horse"]
    (tmp_path / "words.txt").write_text("\n".join(words) + "\n")
    run("embed", "--text", tmp_path / "words.txt", "--model", TINY, "--device", "cpu", "-o", tmp_path / "words.h5")
    with h5py.File(tmp_path / "words.h5", "r") as f:
        np.save(tmp_path / "words.npy", f["embeddings"][:])
    run("dictionary", "build", "--embeddings", tmp_path / "words.npy", "--names", tmp_path / "words.txt",
        "-o", tmp_path / "dict.h5")
    texts = [f"a photo of a {a} and a {b}" for a in words for b in words[:4]]
    (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n")
    run("embed", "--text", tmp_path / "texts.txt", "--model", TINY, "--device", "cpu", "-o", tmp_path / "texts.h5")
    run("decompose", tmp_path / "texts.h5", "--dictionary", tmp_path / "dict.h5", "--l1", "0.05", "--device", "cpu",
        "-o", tmp_path / "codes.h5")
    run("index", "build", tmp_path / "codes.h5", "-o", tmp_path / "index.h5")
    proc = run("search", tmp_path / "index.h5", "--text", "a photo of a cat", "--model", TINY, "--device", "cpu",
               "--dictionary", tmp_path / "dict.h5", "--l1", "0.05", "-k", "5")
    # The same query made by hand: embed, decompose with the dictionary, search.
    (tmp_path / "q.txt").write_text("a photo of a cat\n")
    run("embed", "--text", tmp_path / "q.txt", "--model", TINY, "--device", "cpu", "-o", tmp_path / "q.h5")
    with h5py.File(tmp_path / "q.h5", "r") as f:
        q = f["embeddings"][:]
    decomposer = concise.Decomposer(str(tmp_path / "dict.h5"), l1=0.05, device="cpu")
    rows, _ = concise.SparseIndex.load(tmp_path / "index.h5").search_codes(decomposer.decompose(q), 5)
    got = parse_hits(proc.stdout)
    assert got and [r for r, _ in got] == [r for r in rows[0] if r >= 0]
    assert "a photo of a" in proc.stdout  # the rows' names are their texts
