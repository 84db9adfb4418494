"""`concise summarize`: the statistics against numpy, the files, the HTML report
rendered by a headless browser, and bad input."""
import csv
import json
import shutil
import subprocess

import h5py
import numpy as np
import pytest
import scipy.sparse

CONCEPTS = ["cat", "kitten", "dog", "puppy", "car", "wheel", "grass", "sky", "road", "fur"]
CLASSES = ["cat", "dog", "car"]


def write_codes(path, w, concepts):
    m = scipy.sparse.csr_matrix(w.astype(np.float32))
    with h5py.File(path, "w") as f:
        g = f.create_group("codes")
        g.attrs["encoding-type"], g.attrs["encoding-version"] = "csr_matrix", "0.1.0"
        g.attrs["shape"] = np.array(m.shape, dtype=np.int64)
        g["data"], g["indices"], g["indptr"] = m.data, m.indices.astype(np.int32), m.indptr.astype(np.int64)
        f["concepts"] = np.array(concepts, dtype=h5py.string_dtype())
        f.attrs["complete"] = 1
    return m


@pytest.fixture
def labelled_codes(tmp_path):
    """Rows of three classes, each with its own concepts plus shared background ones."""
    rng = np.random.default_rng(3)
    own = {0: [0, 1, 9], 1: [2, 3, 9], 2: [4, 5, 8]}
    labels = np.repeat(np.arange(3), [40, 30, 20])
    w = np.zeros((len(labels), len(CONCEPTS)))
    for r, y in enumerate(labels):
        for rank, c in enumerate(own[y]):
            if rng.random() < 0.9 - 0.2 * rank:
                w[r, c] = rng.uniform(0.2, 0.4) / (rank + 1)
        for c in (6, 7):
            if rng.random() < 0.3:
                w[r, c] = rng.uniform(0.01, 0.05)
    codes = write_codes(tmp_path / "codes.h5", w, CONCEPTS)
    np.save(tmp_path / "labels.npy", labels)
    (tmp_path / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return tmp_path, codes, labels


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_statistics_match_numpy(labelled_codes, python_cli):
    tmp, codes, labels = labelled_codes
    out = tmp / "summary"
    proc = python_cli("summarize", tmp / "codes.h5", "--labels", tmp / "labels.npy", "--classes", tmp / "classes.txt",
               "--contrast", "cat", "dog", "--top", "5", "-o", out)
    assert "top concepts by mean weight" in proc.stdout and "class dog" in proc.stdout
    w = codes.toarray()
    mean, freq = w.mean(axis=0), (w > 0).mean(axis=0)
    by_weight = read_csv(out / "top_concepts_by_weight.csv")
    assert [r["concept"] for r in by_weight] == [CONCEPTS[c] for c in np.argsort(-mean, kind="stable")[:5]]
    assert float(by_weight[0]["mean_weight"]) == pytest.approx(mean.max(), rel=1e-5)
    by_freq = read_csv(out / "top_concepts_by_frequency.csv")
    assert float(by_freq[0]["frequency"]) == pytest.approx(freq.max())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"] == 90 and summary["mean_l0"] == pytest.approx((w > 0).sum(1).mean())
    for k, name in enumerate(CLASSES):
        top = summary["classes"][name]["top"]
        assert top[0]["concept"] == CONCEPTS[[0, 2, 4][k]]
        assert top[0]["mean_weight"] == pytest.approx(w[labels == k, [0, 2, 4][k]].mean(), rel=1e-5)
    contrast = summary["contrast"]["concepts"]
    assert contrast[0]["concept"] == "cat" and contrast[-1]["concept"] == "dog"
    diff = w[labels == 0].mean(0) - w[labels == 1].mean(0)
    assert contrast[0]["difference"] == pytest.approx(diff.max(), rel=1e-5)
    hist = read_csv(out / "l0_histogram.csv")
    l0 = (w > 0).sum(1)
    assert {int(r["l0"]): int(r["rows"]) for r in hist} == {v: int((l0 == v).sum()) for v in range(l0.max() + 1)}
    co = {(r["concept_a"], r["concept_b"]): r for r in read_csv(out / "cooccurrence.csv")}
    a, b = (w[:, 0] > 0), (w[:, 1] > 0)
    pair = co.get(("cat", "kitten")) or co[("kitten", "cat")]
    assert int(pair["rows_with_both"]) == (a & b).sum()
    assert float(pair["jaccard"]) == pytest.approx((a & b).sum() / (a | b).sum())
    assert int((co.get(("cat", "dog")) or co.get(("dog", "cat")))["rows_with_both"]) == 0


def test_files_plots_and_self_contained_report(labelled_codes, python_cli):
    tmp, _, _ = labelled_codes
    out = tmp / "summary"
    python_cli("summarize", tmp / "codes.h5", "--labels", tmp / "labels.npy", "--classes", tmp / "classes.txt", "-o", out)
    for stem in ("top_concepts", "class_concepts", "contrast", "l0_histogram", "cooccurrence"):
        assert (out / f"{stem}.png").read_bytes()[:4] == b"\x89PNG", stem
        assert (out / f"{stem}.png").stat().st_size > 5_000, stem
        assert b"<svg" in (out / f"{stem}.svg").read_bytes()[:2000], stem
    report = (out / "report.html").read_text()
    assert report.count("data:image/png;base64,") == 5
    assert "http://" not in report and "https://" not in report and 'src="' + str(out) not in report
    assert "What separates cat from dog" in report


def test_without_labels(labelled_codes, python_cli):
    tmp, _, _ = labelled_codes
    out = tmp / "plain"
    python_cli("summarize", tmp / "codes.h5", "-o", out)
    assert (out / "report.html").exists() and not (out / "class_concepts.csv").exists()


def test_report_renders_in_a_headless_browser(labelled_codes, python_cli):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no headless browser (chromium): scripts/setup.sh installs it")
    tmp, _, _ = labelled_codes
    out = tmp / "summary"
    python_cli("summarize", tmp / "codes.h5", "--labels", tmp / "labels.npy", "--classes", tmp / "classes.txt", "-o", out)
    shot = tmp / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1280,2400", (out / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    matplotlib_image = pytest.importorskip("matplotlib.image")
    pixels = matplotlib_image.imread(shot)
    assert pixels.shape[:2] == (2400, 1280)
    # The page shows its plots: many distinct colours, not a blank or an error page.
    assert len(np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 200


@pytest.mark.parametrize("problem", ["labels", "classes", "not_codes"])
def test_bad_input_is_refused_without_output(labelled_codes, python_cli, problem):
    tmp, _, labels = labelled_codes
    args = [tmp / "codes.h5", "--labels", tmp / "labels.npy", "--classes", tmp / "classes.txt"]
    if problem == "labels":
        np.save(tmp / "short.npy", labels[:50])
        args[2], expected = tmp / "short.npy", ["short.npy", "50 labels", "90 rows"]
    elif problem == "classes":
        (tmp / "two.txt").write_text("cat\ndog\n")
        args[4], expected = tmp / "two.txt", ["label 2", "two.txt", "2 classes"]
    else:
        with h5py.File(tmp / "other.h5", "w") as f:
            f["embeddings"] = np.zeros((3, 4), dtype=np.float32)
        args[0], expected = tmp / "other.h5", ["other.h5", "not a codes file"]
    proc = python_cli("summarize", *args, "-o", tmp / "out", check=False)
    assert proc.returncode == 2, proc.stderr
    for text in expected:
        assert text in proc.stderr
    assert not (tmp / "out").exists()
