"""The CLIP front end through the command line: tokenizer, image preprocessing,
encoders (a tiny random CLIPModel, tests/fixtures/tiny_clip), vocabularies, and
photos -> codes in one command."""
import json
import pathlib
import shutil

import h5py
import numpy as np
import pytest

from conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures"
TINY = FIXTURES / "tiny_clip"


@pytest.fixture(scope="session")
def shared(data_dir):
    """The whole public data folder (images, vocabularies, BPE merges)."""
    return data_dir.parent


@pytest.fixture
def clip_run(run, shared, monkeypatch):
    monkeypatch.setenv("CONCISE_CLIP_BPE", str(shared / "bpe_simple_vocab_16e6.txt.gz"))
    return run


@pytest.fixture(scope="session")
def encoders(concise_bin):
    import subprocess
    version = subprocess.run([concise_bin, "--version"], capture_output=True, text=True).stdout
    if "(CLIP encoders): plugin " not in version:
        pytest.skip(f"this concise has no LibTorch encoders ({version.strip()})")


def unit(rows):
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_tokenize_prints_reference_ids(clip_run):
    cases = json.loads((FIXTURES / "tokenizer_cases.json").read_text())[:12]
    out = clip_run("tokenize", *[c["text"] for c in cases]).stdout.splitlines()
    assert out[0] == "49406 320 1125 539 320 2368 49407"
    assert [list(map(int, line.split())) for line in out] == [c["ids"] for c in cases]
    padded = clip_run("tokenize", "--pad", "a cat").stdout.split()
    assert len(padded) == 77 and padded[-1] == "0"


def test_tokenize_needs_no_flag_and_a_missing_merges_file_is_named(run, monkeypatch, tmp_path):
    monkeypatch.delenv("CONCISE_CLIP_BPE", raising=False)
    assert run("tokenize", "a photo of a cat").stdout.strip() == "49406 320 1125 539 320 2368 49407"
    proc = run("tokenize", "a cat", "--bpe", tmp_path / "none.gz", check=False)
    assert proc.returncode == 2 and "none.gz" in proc.stderr and "does not exist" in proc.stderr


def test_preprocess_matches_pil_and_torchvision(clip_run, shared, tmp_path):
    names = (shared / "clip-vit-b32" / "image_inputs.txt").read_text().split()
    reference = np.load(shared / "clip-vit-b32" / "image_inputs.npy")
    for i in (0, 3):
        clip_run("preprocess", shared / "images" / names[i], "-o", tmp_path / "x.npy")
        got = np.load(tmp_path / "x.npy")
        assert got.shape == (3, 224, 224) and got.dtype == np.float32
        diff = np.abs(got - reference[i])
        assert diff.max() <= 0.02 and diff.mean() <= 2e-3


def test_preprocess_of_a_non_image_fails_cleanly(clip_run, tmp_path):
    (tmp_path / "notes.jpg").write_text("not a photo")
    proc = clip_run("preprocess", tmp_path / "notes.jpg", "-o", tmp_path / "x.npy", check=False)
    assert proc.returncode == 2 and "notes.jpg" in proc.stderr and "neither JPEG nor PNG" in proc.stderr
    assert not list(tmp_path.glob("x.npy*"))


@pytest.mark.parametrize("model", [".", "model.torchscript.pt"])
def test_embed_images_and_texts_match_transformers(encoders, clip_run, shared, tmp_path, model):
    images = tmp_path / "photos"
    shutil.copytree(shared / "images", images)
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (images / "readme.txt").write_text("not an image, not listed")
    proc = clip_run("embed", "--model", TINY / model, "--images", images, "--batch", 3, "-o", tmp_path / "img.h5")
    assert "broken.jpg" in proc.stderr and "skipped" in proc.stderr
    names = (shared / "clip-vit-b32" / "image_inputs.txt").read_text().split()
    expected = unit(np.load(TINY / "image_embeds.npy"))
    with h5py.File(tmp_path / "img.h5", "r") as f:
        got_names = list(f["names"].asstr()[:])
        got = f["embeddings"][:]
    assert got_names == sorted(names)
    order = [names.index(n) for n in got_names]
    np.testing.assert_allclose(got, expected[order], rtol=0, atol=1e-5)

    cases = json.loads((FIXTURES / "tokenizer_cases.json").read_text())
    texts = [c["text"] for c in cases if c["text"].strip() and "\n" not in c["text"]]
    rows = [i for i, c in enumerate(cases) if c["text"].strip() and "\n" not in c["text"]]
    (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n")
    clip_run("embed", "--model", TINY / model, "--text", tmp_path / "texts.txt", "-o", tmp_path / "txt.h5")
    with h5py.File(tmp_path / "txt.h5", "r") as f:
        np.testing.assert_allclose(f["embeddings"][:], unit(np.load(TINY / "text_embeds.npy"))[rows], atol=1e-5)
        assert list(f["names"].asstr()[:]) == texts


def test_vocab_mine_finds_frequent_words_and_pairs(run, tmp_path):
    captions = ["A red fire truck parked on the street.", "The fire truck and a red car",
                "a cat on a red car", "Fire truck!", "cat, car; 123 dogs", "\u00c9clair on a plate"]
    (tmp_path / "captions.txt").write_text("\n".join(captions) + "\n")
    out = run("vocab", "mine", "--captions", tmp_path / "captions.txt", "--bigrams", 5, "--counts").stdout
    mined = [line.split("\t") for line in out.splitlines()]
    assert mined == [["car", "3"], ["fire", "3"], ["red", "3"], ["truck", "3"], ["cat", "2"],
                     ["fire truck", "3"], ["red car", "2"]]


def test_vocab_build_from_words_and_captions(encoders, clip_run, shared, tmp_path):
    words = shared / "vocab" / "mscoco.txt"
    lines = [w.strip() for w in words.read_text().splitlines() if w.strip()]
    np.save(tmp_path / "mu.npy", np.full(8, 0.1, np.float32))
    clip_run("vocab", "build", "--words", words, "--top", 50, "--model", TINY, "--template", "a photo of {}",
             "--image-mean", tmp_path / "mu.npy", "-o", tmp_path / "dict.h5")
    with h5py.File(tmp_path / "dict.h5", "r") as f:
        concepts = list(f["concepts"].asstr()[:])
        atoms = f["atoms"][:]
        assert f.attrs["model"] == "tiny_clip"
        np.testing.assert_allclose(f["image_mean"][:], 0.1)
    assert concepts == list(dict.fromkeys(lines[-50:]))  # SpLiCE's top K: the last K lines
    np.testing.assert_allclose(np.linalg.norm(atoms, axis=1), 1, atol=1e-5)

    proc = clip_run("vocab", "build", "--words", words, "--top", len(lines) + 1, "--model", TINY,
                    "-o", tmp_path / "big.h5", check=False)
    assert proc.returncode == 2 and f"has {len(lines)} concepts, fewer than" in proc.stderr
    assert not list(tmp_path.glob("big.h5*"))

    (tmp_path / "captions.txt").write_text("a dog on a beach\nthe dog runs on the beach\nbeach at sunset\n")
    clip_run("vocab", "build", "--captions", tmp_path / "captions.txt", "--bigrams", 3, "--model", TINY,
             "-o", tmp_path / "mined.h5")
    with h5py.File(tmp_path / "mined.h5", "r") as f:
        assert list(f["concepts"].asstr()[:]) == ["beach", "dog"]


def test_photos_to_codes_in_one_command(encoders, clip_run, shared, tmp_path):
    clip_run("vocab", "build", "--words", shared / "vocab" / "mscoco.txt", "--top", 300, "--model", TINY,
             "-o", tmp_path / "dict.h5")
    clip_run("decompose", "--images", shared / "images", "--model", TINY, "--dictionary", tmp_path / "dict.h5",
             "--l1", 0.1, "-o", tmp_path / "codes.h5")
    with h5py.File(tmp_path / "codes.h5", "r") as f:
        assert f.attrs["complete"] == 1
        assert list(f["names"].asstr()[:]) == sorted(p.name for p in (shared / "images").glob("*.jpg"))
        assert f["codes/indptr"].shape == (8,)
        assert (f["stats/l0"][:] > 0).all()
    assert (tmp_path / "codes.embeddings.h5").exists()
    shown = clip_run("explain", tmp_path / "codes.h5", "--rows", "0:1").stdout
    assert "123_456.jpg" in shown.splitlines()[0]


@pytest.mark.parametrize("case", ["missing", "no_weights", "wrong_type"])
def test_bad_models_are_clear_errors(encoders, clip_run, shared, tmp_path, case):
    model = tmp_path / "model"
    if case != "missing":
        model.mkdir()
        config = json.loads((TINY / "config.json").read_text())
        if case == "wrong_type":
            config["model_type"] = "blip"
            shutil.copy(TINY / "model.safetensors", model)
        (model / "config.json").write_text(json.dumps(config))
    proc = clip_run("embed", "--model", model, "--images", shared / "images", "-o", tmp_path / "e.h5", check=False)
    expected = {"missing": "does not exist", "no_weights": "no model.safetensors", "wrong_type": "'blip'"}[case]
    assert proc.returncode == 2 and expected in proc.stderr, proc.stderr
    assert not list(tmp_path.glob("e.h5*"))


def test_embed_recursive_names_images_by_their_path_below_the_folder(encoders, clip_run, shared, tmp_path):
    photos = sorted((shared / "images").glob("*.jpg"))
    (tmp_path / "root" / "cats" / "close").mkdir(parents=True)
    shutil.copy(photos[0], tmp_path / "root" / "top.jpg")
    shutil.copy(photos[1], tmp_path / "root" / "cats" / "close" / "eye.JPG")
    clip_run("embed", "--model", TINY, "--images", tmp_path / "root", "-o", tmp_path / "flat.h5")
    clip_run("embed", "--model", TINY, "--images", tmp_path / "root", "--recursive", "-o", tmp_path / "deep.h5")
    with h5py.File(tmp_path / "flat.h5", "r") as f:
        assert list(f["names"].asstr()[:]) == ["top.jpg"]
    with h5py.File(tmp_path / "deep.h5", "r") as f:
        assert list(f["names"].asstr()[:]) == ["cats/close/eye.JPG", "top.jpg"]


def test_interrupted_image_embedding_resumes_to_the_same_file(encoders, clip_run, shared, tmp_path):
    images = tmp_path / "photos"
    shutil.copytree(shared / "images", images)
    (images / "0_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    whole = tmp_path / "whole.h5"
    clip_run("embed", "--model", TINY, "--images", images, "--batch", 3, "-o", whole)

    part = tmp_path / "part.h5"
    first = clip_run("embed", "--model", TINY, "--images", images, "--batch", 3, "--max-batches", 1, "-o", part)
    assert "stopped after 3 of 8 images" in first.stdout
    assert not part.exists() and (tmp_path / "part.h5.partial").exists()
    second = clip_run("embed", "--model", TINY, "--images", images, "--batch", 3, "-o", part)
    assert "0_broken.png" not in second.stderr  # its batch was done before the stop
    assert "resumed" in second.stdout and part.exists() and not (tmp_path / "part.h5.partial").exists()
    with h5py.File(whole, "r") as a, h5py.File(part, "r") as b:
        assert list(a["names"].asstr()[:]) == list(b["names"].asstr()[:])
        assert len(a["names"]) == 7
        np.testing.assert_array_equal(a["embeddings"][:], b["embeddings"][:])

    before = part.stat().st_mtime_ns
    again = clip_run("embed", "--model", TINY, "--images", images, "--batch", 3, "-o", part)
    assert "already embedded" in again.stdout and part.stat().st_mtime_ns == before

    (images / "new.jpg").write_bytes((shared / "images" / "123_456.jpg").read_bytes())
    clip_run("embed", "--model", TINY, "--images", images, "--batch", 3, "-o", part)  # other images: a new run
    with h5py.File(part, "r") as f:
        assert len(f["names"]) == 8
