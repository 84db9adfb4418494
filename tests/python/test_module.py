"""The Python module: scikit-learn agreement, numpy/torch parity, zero copy, errors,
threads and Ctrl-C, the file helpers and the SpLiCE facade."""
import _thread
import threading
import time
import tracemalloc

import numpy as np
import pytest
import scipy.sparse

concise = pytest.importorskip("concise")
torch = pytest.importorskip("torch")
from concise import _arrays, _core  # noqa: E402
from concise.splice import SPLICE  # noqa: E402

L1 = 0.25


def names_of(path, count):
    return path.read_text().splitlines()[:count]


@pytest.fixture(scope="module")
def lvis(data_dir):
    text = np.load(data_dir / "lvis_concepts.npy").astype(np.float32)
    mu = np.load(data_dir / "image_mean.npy").astype(np.float32)
    dictionary = concise.Dictionary.build(text, names_of(data_dir / "lvis_concepts.txt", len(text)), image_mean=mu,
                                          model="openai/clip-vit-base-patch32")
    images = np.load(data_dir / "image_embeddings.npy").astype(np.float32)
    labels = names_of(data_dir / "image_embeddings.txt", len(images))
    return dictionary, images, labels


@pytest.fixture(scope="module")
def synthetic_dictionary():
    rng = np.random.default_rng(3)
    c, d = 2000, 128
    text = (3.0 * rng.normal(size=d) + rng.normal(size=(c, 8)) @ rng.normal(size=(8, d)) * 0.5
            + rng.normal(size=(c, d))).astype(np.float32)
    return concise.Dictionary.build(text, [f"concept {k}" for k in range(c)])


def mixtures(dictionary, n, seed=0):
    rng = np.random.default_rng(seed)
    atoms = np.asarray(dictionary.atoms, dtype=np.float64)
    picks = rng.integers(0, len(atoms), size=(n, 5))
    rows = (rng.uniform(0.2, 1.0, size=(n, 5, 1)) * atoms[picks]).sum(axis=1)
    rows += 0.3 * rng.normal(size=rows.shape) / np.sqrt(atoms.shape[1])
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def centered(images, mu):
    z = images / np.linalg.norm(images, axis=1, keepdims=True) - mu
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def objective(z, w, atoms, l1=L1):
    r = z.astype(np.float64) - w.astype(np.float64) @ atoms.astype(np.float64)
    return (r * r).sum(axis=1) + l1 * w.sum(axis=1)


@pytest.mark.parametrize("solver", ["ws", "fista", "admm"])
def test_agrees_with_scikit_learn_on_real_images(lvis, solver):
    from sklearn.linear_model import Lasso
    dictionary, images, _ = lvis
    atoms = np.asarray(dictionary.atoms)
    codes, stats = concise.Decomposer(dictionary, l1=L1, solver=solver).decompose(images, return_stats=True)
    z = centered(images.astype(np.float64), np.asarray(dictionary.image_mean, dtype=np.float64))
    model = Lasso(alpha=L1 / (2 * atoms.shape[1]), positive=True, fit_intercept=False, tol=1e-8, max_iter=100000)
    reference = np.stack([model.fit(atoms.T.astype(np.float64), row).coef_ for row in z])
    ours = objective(z, codes.toarray(), atoms)
    theirs = objective(z, reference, atoms)
    assert np.all(np.abs(ours - theirs) <= 1e-4 * theirs)
    assert np.all(ours >= theirs * (1 - 1e-6))  # nobody beats the optimum
    big = reference > 1e-2
    assert np.array_equal(big, codes.toarray() > 1e-2)
    assert np.all(stats.gap <= 1e-4 * stats.objective * (1 + 1e-6))
    np.testing.assert_allclose(stats.objective, ours, rtol=1e-5)


def test_top_concepts_of_real_photos(lvis):
    dictionary, images, labels = lvis
    decomposer = concise.Decomposer(dictionary, l1=L1)
    explained = decomposer.explain(decomposer.decompose(images), top=3)
    top = {label: rows[0][0] for label, rows in zip(labels, explained)}
    assert top["123_456.jpg"] == "cat"
    assert top["456_123.jpg"] == "kitten"
    assert top["389_535.jpg"] == "street sign"
    assert top["321_421.jpg"] == "coconut"
    assert all(w1 >= w2 for rows in explained for (_, w1), (_, w2) in zip(rows, rows[1:]))


def test_torch_and_numpy_give_identical_results(lvis):
    dictionary, images, _ = lvis
    decomposer = concise.Decomposer(dictionary)
    from_numpy, numpy_stats = decomposer.decompose(images, return_stats=True)
    from_torch, torch_stats = decomposer.decompose(torch.from_numpy(images), return_stats=True)
    assert from_torch.layout == torch.sparse_csr
    assert isinstance(from_numpy, scipy.sparse.csr_matrix)
    np.testing.assert_array_equal(from_torch.to_dense().numpy(), from_numpy.toarray())
    for field in ("l0", "cosine", "centered_cosine", "gap", "objective", "iterations"):
        np.testing.assert_array_equal(getattr(torch_stats, field), getattr(numpy_stats, field))
    np.testing.assert_array_equal(decomposer.recompose(from_torch).numpy(), decomposer.recompose(from_numpy))
    # float64, float16 and strided inputs are converted, and agree
    np.testing.assert_array_equal(decomposer.decompose(images.astype(np.float64)).toarray(), from_numpy.toarray())
    strided = np.repeat(images, 2, axis=0)[::2]
    np.testing.assert_array_equal(decomposer.decompose(strided).toarray(), from_numpy.toarray())


def test_contiguous_float32_input_is_not_copied(synthetic_dictionary):
    rows = mixtures(synthetic_dictionary, 4096)
    tensor = torch.from_numpy(rows)
    assert _core.buffer_address(_arrays.host_rows(rows)) == rows.__array_interface__["data"][0]
    assert _core.buffer_address(_arrays.host_rows(tensor)) == tensor.data_ptr()
    # the control: a float64 array has to be converted, and that is visible
    as_double = rows.astype(np.float64)
    assert _core.buffer_address(_arrays.host_rows(as_double)) != as_double.__array_interface__["data"][0]

    decomposer = concise.Decomposer(synthetic_dictionary, l1=0.2)
    tracemalloc.start()
    decomposer.decompose(rows, preprocess=False)
    _, peak_float32 = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    decomposer.decompose(as_double, preprocess=False)
    _, peak_float64 = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak_float32 < rows.nbytes / 4          # nothing of the input's size was allocated
    assert peak_float64 >= rows.nbytes              # a conversion is one float32 copy


def test_preprocess_false_takes_centered_rows(lvis):
    dictionary, images, _ = lvis
    decomposer = concise.Decomposer(dictionary)
    z = centered(images, np.asarray(dictionary.image_mean)).astype(np.float32)
    raw = decomposer.decompose(images).toarray()
    ready = decomposer.decompose(z, preprocess=False).toarray()
    np.testing.assert_allclose(ready, raw, atol=1e-5)


def test_bad_inputs_raise_with_the_cli_messages(lvis, tmp_path, run):
    dictionary, images, _ = lvis
    decomposer = concise.Decomposer(dictionary)
    with pytest.raises(ValueError, match=r"embeddings have dimension 3, expected 512 \(the dictionary's\)"):
        decomposer.decompose(np.ones((2, 3), np.float32))
    np.save(tmp_path / "narrow.npy", np.ones((2, 3), np.float32))
    dictionary.save(str(tmp_path / "dict.h5"))
    cli = run("decompose", tmp_path / "narrow.npy", "--dictionary", tmp_path / "dict.h5", "-o", tmp_path / "c.h5",
              check=False)
    assert cli.returncode == 2 and "embeddings have dimension 3, expected 512 (the dictionary's)" in cli.stderr
    bad = images.copy()
    bad[4, 7] = np.nan
    with pytest.raises(ValueError, match=r"input row 4: contains NaN or Inf at column 7"):
        decomposer.decompose(bad)
    zero_row = images.copy()
    zero_row[2] = 0
    with pytest.raises(ValueError, match=r"input row 2"):
        decomposer.decompose(zero_row)
    with pytest.raises(ValueError, match=r"no rows"):
        decomposer.decompose(np.zeros((0, 512), np.float32))
    with pytest.raises(ValueError, match=r"expected a 2-D"):
        decomposer.decompose(images[0])
    with pytest.raises(TypeError, match=r"dtype int64, expected floating-point"):
        decomposer.decompose(np.ones((2, 512), np.int64))
    with pytest.raises(TypeError, match=r"expected a numpy array or a torch tensor"):
        decomposer.decompose("cat")
    with pytest.raises(ValueError, match=r"l1"):
        concise.Decomposer(dictionary, l1=-1)
    with pytest.raises(ValueError, match=r"tol"):
        concise.Decomposer(dictionary, tol=-1e-4)
    with pytest.raises(ValueError, match=r"solver 'lars'"):
        concise.Decomposer(dictionary, solver="lars")
    with pytest.raises(ValueError, match=r"device 'tpu'"):
        concise.Decomposer(dictionary, device="tpu")
    codes = decomposer.decompose(images)
    with pytest.raises(ValueError, match=r"concept 'unicorn' is not in the dictionary"):
        decomposer.recompose(codes, zero=["unicorn"])
    with pytest.raises(ValueError, match=r"concept 'Cat' is not in the dictionary.*did you mean 'cat'"):
        decomposer.recompose(codes, zero=["Cat"])
    with pytest.raises(ValueError, match=r"expected \(rows, 1203\)"):
        decomposer.recompose(scipy.sparse.csr_matrix((2, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"missing\.h5"):
        concise.Dictionary.load(str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match=r"3 rows but 2 names"):
        concise.Dictionary.build(np.ones((3, 4), np.float32), ["a", "b"])
    with pytest.raises(ValueError, match=r"at least 2 concepts, got 1"):
        concise.Dictionary.build(np.ones((1, 4), np.float32), ["cat"])
    with pytest.raises(ValueError, match=r"atom 1: is a zero atom"):
        concise.Dictionary.from_atoms(np.array([[1, 0], [0, 0]], np.float32), ["cat", "nothing"])


def test_recompose_and_intervention(lvis):
    dictionary, images, labels = lvis
    decomposer = concise.Decomposer(dictionary)
    codes, stats = decomposer.decompose(images, return_stats=True)
    dense = decomposer.recompose(codes)
    unit = images / np.linalg.norm(images, axis=1, keepdims=True)
    np.testing.assert_allclose((dense * unit).sum(axis=1), stats.cosine, atol=1e-5)
    # The centered cosine: C^T w against the centered input z, what the solver explains.
    z = unit - dictionary.image_mean
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    fit = codes.toarray() @ dictionary.atoms
    np.testing.assert_allclose(stats.centered_cosine, (fit * z).sum(axis=1) / np.linalg.norm(fit, axis=1), atol=1e-4)
    assert (stats.centered_cosine < stats.cosine).all()
    cat_row = labels.index("123_456.jpg")
    cat = dictionary.find("cat")
    without_cat = decomposer.recompose(codes, zero=["cat"])
    text_cat = np.asarray(dictionary.atoms)[cat]
    assert without_cat[cat_row] @ text_cat < dense[cat_row] @ text_cat
    other = [r for r in range(len(images)) if codes[r, cat] == 0]
    np.testing.assert_array_equal(without_cat[other], dense[other])
    np.testing.assert_array_equal(decomposer.recompose(codes, zero=[cat]), without_cat)


def test_solve_releases_the_gil(synthetic_dictionary):
    decomposer = concise.Decomposer(synthetic_dictionary, l1=0.1, solver="ws")
    rows = mixtures(synthetic_dictionary, 8000, seed=1)
    worker = threading.Thread(target=decomposer.decompose, args=(rows,), kwargs={"chunk": len(rows)})
    ticks = 0
    worker.start()
    started = time.perf_counter()
    while worker.is_alive():
        ticks += 1
        time.sleep(0.001)
    elapsed = time.perf_counter() - started
    assert elapsed > 0.2, "the solve was too short to tell"
    assert ticks > 0.25 * elapsed / 0.001  # the main thread kept running during the one-chunk solve


def test_ctrl_c_stops_a_long_solve_and_leaves_the_decomposer_usable(synthetic_dictionary):
    decomposer = concise.Decomposer(synthetic_dictionary, l1=0.1, solver="fista")
    rows = mixtures(synthetic_dictionary, 20000, seed=2)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        decomposer.decompose(rows, chunk=32)
    assert time.perf_counter() - started < 20
    timer.join()
    assert decomposer.decompose(rows[:4]).shape == (4, len(synthetic_dictionary))


def test_file_helpers_match_the_in_memory_path(lvis, tmp_path):
    import h5py
    dictionary, images, _ = lvis
    np.save(tmp_path / "images.npy", images)
    summary = concise.decompose_file(tmp_path / "images.npy", dictionary, tmp_path / "codes.h5")
    assert summary["complete"] and summary["rows"] == len(images)
    with h5py.File(tmp_path / "codes.h5") as f:
        g = f["codes"]
        on_disk = scipy.sparse.csr_matrix((g["data"][:], g["indices"][:], g["indptr"][:]), shape=tuple(g.attrs["shape"]))
    in_memory = concise.Decomposer(dictionary).decompose(images)
    np.testing.assert_array_equal(on_disk.toarray(), in_memory.toarray())
    concise.recompose_file(tmp_path / "codes.h5", dictionary, tmp_path / "dense.h5", zero=["cat"])
    with h5py.File(tmp_path / "dense.h5") as f:
        np.testing.assert_allclose(f["embeddings"][:], concise.Decomposer(dictionary).recompose(in_memory, zero=["cat"]),
                                   atol=1e-6)


def test_dictionary_round_trip_and_views(lvis, tmp_path):
    dictionary, _, _ = lvis
    dictionary.save(str(tmp_path / "dict.h5"))
    loaded = concise.Dictionary.load(str(tmp_path / "dict.h5"))
    assert loaded.fingerprint == dictionary.fingerprint and loaded.concepts == dictionary.concepts
    atoms = loaded.atoms
    assert atoms.shape == (1203, 512) and not atoms.flags.writeable
    np.testing.assert_allclose(np.linalg.norm(atoms, axis=1), 1, atol=1e-5)
    del loaded
    assert np.isfinite(atoms).all()  # the view keeps its dictionary alive


def splice_reference(images, atoms, mu, l1=L1):
    """SpLiCE's encode_image with its scikit-learn solver, in float64."""
    from sklearn.linear_model import Lasso
    z = centered(images.astype(np.float64), mu.astype(np.float64))
    model = Lasso(alpha=l1 / (2 * atoms.shape[1]), positive=True, fit_intercept=False, tol=1e-8, max_iter=100000)
    weights = np.stack([model.fit(atoms.T.astype(np.float64), row).coef_ for row in z])
    recon = weights @ atoms
    recon /= np.linalg.norm(recon, axis=1, keepdims=True)
    recon += mu
    return z, weights, recon / np.linalg.norm(recon, axis=1, keepdims=True)


def test_splice_facade_on_the_real_images(lvis):
    dictionary, images, labels = lvis
    atoms = np.array(dictionary.atoms)
    mu = np.array(dictionary.image_mean)
    model = SPLICE(torch.from_numpy(mu), torch.from_numpy(atoms), l1_penalty=L1)
    recon = model.encode_image(torch.from_numpy(images))
    z, ref_weights, ref_recon = splice_reference(images, atoms, mu)
    assert recon.shape == (7, 512)
    np.testing.assert_allclose(recon.numpy(), ref_recon, atol=2e-3)
    weights = SPLICE(torch.from_numpy(mu), torch.from_numpy(atoms), return_weights=True).encode_image(
        torch.from_numpy(images))
    assert weights.shape == (7, 1203) and weights.layout == torch.strided
    np.testing.assert_allclose(objective(z, weights.numpy(), atoms), objective(z, ref_weights, atoms), rtol=1e-4)
    assert dictionary.concepts[int(weights[labels.index("389_535.jpg")].argmax())] == "street sign"
    np.testing.assert_allclose(model.recompose_image(weights).numpy(), recon.numpy(), atol=1e-6)

    cat = dictionary.find("cat")
    intervened = SPLICE(torch.from_numpy(mu), torch.from_numpy(atoms), return_weights=True).intervene_image(
        torch.from_numpy(images), [cat])
    assert float(intervened[:, cat].abs().max()) == 0
    with_cosine, cosine = SPLICE(torch.from_numpy(mu), dictionary, return_cosine=True).encode_image(
        torch.from_numpy(images))
    unit = images / np.linalg.norm(images, axis=1, keepdims=True)
    np.testing.assert_allclose(cosine.numpy(), (ref_recon * unit).sum(axis=1), atol=2e-3)


class _TinyClip:
    """encode_image / encode_text over precomputed embeddings, as a CLIP model would."""
    def __init__(self, images):
        self.images = images

    def eval(self):
        return self

    def encode_image(self, index):
        return self.images[index]

    def encode_text(self, text):
        return text


def test_splice_facade_calls_the_clip_encoder(lvis):
    dictionary, images, _ = lvis
    mu = torch.from_numpy(np.array(dictionary.image_mean))
    direct = SPLICE(mu, dictionary).encode_image(torch.from_numpy(images))
    through_clip = SPLICE(mu, dictionary, clip=_TinyClip(torch.from_numpy(images))).encode_image(slice(None))
    np.testing.assert_array_equal(through_clip.numpy(), direct.numpy())


@pytest.mark.skipif(not concise.cuda_available(), reason="no GPU here: the CUDA backend needs one to run")
def test_gpu_and_cpu_agree(lvis):
    dictionary, images, _ = lvis
    cpu = concise.Decomposer(dictionary, device="cpu").decompose(images, return_stats=True)
    gpu = concise.Decomposer(dictionary, device="cuda").decompose(torch.from_numpy(images).cuda(), return_stats=True)
    np.testing.assert_allclose(gpu[1].objective, cpu[1].objective, rtol=1e-4)
    np.testing.assert_array_equal(gpu[0].to_dense().cpu().numpy() > 1e-4, cpu[0].toarray() > 1e-4)


@pytest.mark.skipif(not concise.cuda_available() or not torch.cuda.is_available(),
                    reason="no GPU here (or torch without CUDA): CUDA tensors need both")
def test_cuda_tensors_are_read_in_place_and_give_the_cpu_answer(lvis):
    dictionary, images, _ = lvis
    rows = torch.from_numpy(images).cuda()
    assert _arrays.cuda_rows(rows).data_ptr() == rows.data_ptr()  # no copy for contiguous float32
    before = rows.clone()
    gpu = concise.Decomposer(dictionary, device="cuda")
    codes, stats = gpu.decompose(rows, return_stats=True)
    torch.testing.assert_close(rows, before, rtol=0, atol=0)  # preprocessing went to a scratch
    cpu_codes, cpu_stats = concise.Decomposer(dictionary, device="cpu", solver="fista").decompose(
        images, return_stats=True)
    np.testing.assert_allclose(stats.objective, cpu_stats.objective, rtol=1e-4)
    np.testing.assert_allclose(stats.cosine, cpu_stats.cosine, atol=1e-4)
    np.testing.assert_array_equal(codes.to_dense().cpu().numpy() > 1e-4, cpu_codes.toarray() > 1e-4)
    assert codes.device == rows.device
    bad = rows.clone()
    bad[3] = 0
    with pytest.raises(ValueError, match="input row 3"):
        gpu.decompose(bad)


def test_clip_inputs_match_the_references(data_dir, monkeypatch):
    import json
    import pathlib
    from concise import clip
    shared = data_dir.parent
    monkeypatch.setenv("CONCISE_CLIP_BPE", str(shared / "bpe_simple_vocab_16e6.txt.gz"))
    cases = json.loads((pathlib.Path(__file__).parents[1] / "fixtures" / "tokenizer_cases.json").read_text())
    ids = clip.Tokenizer().tokenize([c["text"] for c in cases])
    assert ids.dtype == np.int64 and ids.shape == (len(cases), 77)
    for row, case in zip(ids, cases):
        assert row[:len(case["ids"])].tolist() == case["ids"] and not row[len(case["ids"]):].any()
    names = (data_dir / "image_inputs.txt").read_text().split()
    x = clip.preprocess([shared / "images" / n for n in names])
    np.testing.assert_array_equal(x, np.load(data_dir / "image_inputs.npy"))
    with pytest.raises(ValueError, match="neither JPEG nor PNG"):
        clip.preprocess([data_dir / "image_inputs.txt"])
    monkeypatch.delenv("CONCISE_CLIP_BPE")
    # The merges ship with concise: no argument needed.
    assert clip.Tokenizer().tokenize("a photo of a cat")[0, :7].tolist() == [49406, 320, 1125, 539, 320, 2368, 49407]
    # Errors speak Python: argument names, not command-line flags.
    with pytest.raises(ValueError, match=r"merges='nowhere\.gz' is not a file") as error:
        clip.Tokenizer(merges="nowhere.gz")
    assert "--bpe" not in str(error.value)
    monkeypatch.setattr(clip, "SHIPPED_MERGES", pathlib.Path("/nonexistent/bpe.txt.gz"))
    with pytest.raises(ValueError, match=r"Tokenizer\(merges=PATH\)") as error:
        clip.Tokenizer()
    assert "--bpe" not in str(error.value) and "CONCISE_CLIP_BPE" in str(error.value)
