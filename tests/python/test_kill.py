"""SIGKILL at random points during `decompose` and `embed`: every rerun resumes and
finishes, and the final file is byte-identical to an uninterrupted run's."""
import pathlib
import random
import signal
import struct
import subprocess
import time
import zlib

import h5py
import numpy as np
import pytest

from conftest import ROOT

TINY_CLIP = ROOT / "tests" / "fixtures" / "tiny_clip"
ROUNDS = 10  # two kills a round (the run, then its resumed run): 20 kill points


def run_to_completion(argv):
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, f"rerun failed ({proc.returncode}):\n{proc.stderr}"


def killed_at(argv, partial, size):
    """Starts argv and kills it once `partial` holds `size` bytes; whether it did."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None:
        if partial.exists() and partial.stat().st_size >= size:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.001)
    return False


def committed_rows(partial):
    try:
        with h5py.File(partial, "r") as f:
            return int(f.attrs["rows_done"])
    except (OSError, KeyError):
        return None


def check_kills(argv, out, rows, seed):
    """Kills argv (writing out) at 2 * ROUNDS random points, resuming after each: a
    point is a size its .partial file reaches, from its creation to its last commit.
    Returns how many kills left some rows committed but not all of them."""
    reference = out.with_name("reference" + out.suffix)
    run_to_completion([*argv, "-o", str(reference)])
    again = out.with_name("again" + out.suffix)
    run_to_completion([*argv, "-o", str(again)])
    assert again.read_bytes() == reference.read_bytes(), "two uninterrupted runs wrote different bytes"

    rng = random.Random(seed)
    partial = out.with_name(out.name + ".partial")
    full_size = reference.stat().st_size
    mid_run = 0
    for round_ in range(ROUNDS):
        out.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
        for _ in range(2):
            if killed_at([*argv, "-o", str(out)], partial, int(rng.uniform(0, 1.0) * full_size)):
                mid_run += 0 < (committed_rows(partial) or 0) < rows
        run_to_completion([*argv, "-o", str(out)])
        assert not partial.exists()
        assert out.read_bytes() == reference.read_bytes(), f"round {round_}: the resumed file differs"
    return mid_run


def random_problem(tmp_path, run, concepts, dim, rows, seed):
    """A dictionary d.h5 of random concepts and rows e.npy to decompose over it."""
    rng = np.random.default_rng(seed)
    np.save(tmp_path / "text.npy", (2.0 + rng.normal(size=(concepts, dim))).astype(np.float32))
    (tmp_path / "names.txt").write_text("".join(f"c{k}\n" for k in range(concepts)))
    run("dictionary", "build", "--embeddings", tmp_path / "text.npy", "--names", tmp_path / "names.txt",
        "-o", tmp_path / "d.h5")
    np.save(tmp_path / "e.npy", (1.0 + rng.normal(size=(rows, dim))).astype(np.float32))


def test_decompose_killed_at_random_points_resumes_to_identical_bytes(tmp_path, run, concise_bin):
    rows = 1200
    random_problem(tmp_path, run, 300, 32, rows, seed=13)
    argv = [concise_bin, "decompose", str(tmp_path / "e.npy"), "--dictionary", str(tmp_path / "d.h5"),
            "--chunk", "20", "--l1", "0.05", "--threads", "1", "--quiet"]
    mid_run = check_kills(argv, tmp_path / "codes.h5", rows, seed=13)
    assert mid_run >= 3, f"only {mid_run} of {2 * ROUNDS} kills landed mid-run: use more rows"


def write_png(path, pixels):
    """An 8-bit RGB PNG (pixels: height x width x 3 uint8)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    height, width, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def embed_command(tmp_path, concise_bin, count, batch, seed):
    """`concise embed` of `count` random photos with the tiny CLIP, without -o; skips
    the test when this concise has no LibTorch encoders."""
    version = subprocess.run([concise_bin, "--version"], capture_output=True, text=True).stdout
    if "(CLIP encoders): plugin " not in version:
        pytest.skip(f"this concise has no LibTorch encoders ({version.strip()})")
    rng = np.random.default_rng(seed)
    images = tmp_path / "images"
    images.mkdir()
    for k in range(count):
        write_png(images / f"{k:03d}.png", rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8))
    return [concise_bin, "embed", "--model", str(TINY_CLIP), "--images", str(images), "--batch", str(batch), "--quiet"]


def test_embed_killed_at_random_points_resumes_to_identical_bytes(tmp_path, concise_bin):
    count = 60
    argv = embed_command(tmp_path, concise_bin, count, batch=2, seed=13)
    mid_run = check_kills(argv, tmp_path / "embeddings.h5", count, seed=13)
    assert mid_run >= 3, f"only {mid_run} of {2 * ROUNDS} kills landed mid-run: use more images"


def committed_partial_from(final, partial, rows_done, damage=None):
    """A .partial that an interrupted run could have left: the finished file, marked
    incomplete with only rows_done rows committed; damage(file) may then spoil it."""
    partial.write_bytes(final.read_bytes())
    with h5py.File(partial, "r+") as f:
        f.attrs["rows_done"] = np.int64(rows_done)
        f.attrs["complete"] = np.int64(0)
        if damage:
            damage(f)


def test_resume_rewrites_the_committed_rows_and_starts_over_when_they_do_not_read_back(tmp_path, run):
    concepts = 60
    random_problem(tmp_path, run, concepts, 16, 300, seed=5)
    args = ["decompose", tmp_path / "e.npy", "--dictionary", tmp_path / "d.h5", "--chunk", "50", "--quiet"]
    reference = tmp_path / "reference.h5"
    run(*args, "-o", reference)
    out = tmp_path / "codes.h5"
    partial = tmp_path / "codes.h5.partial"

    # A committed prefix in a file whose layout this run did not write itself: resume
    # reads those rows and writes them into a fresh file, never extending the old one.
    committed_partial_from(reference, partial, 150)
    proc = run(*args, "-o", out)
    assert "damaged" not in proc.stderr, proc.stderr
    assert out.read_bytes() == reference.read_bytes()
    assert not partial.exists() and not (tmp_path / "codes.h5.partial.resume").exists()

    def spoil(dataset, index, value):
        def damage(f):
            f[dataset][index] = value
        return damage

    for dataset, index, value in [("/codes/indptr", 40, -7), ("/codes/indices", 3, concepts + 5),
                                  ("/codes/data", 2, np.nan)]:
        out.unlink()
        committed_partial_from(reference, partial, 150, spoil(dataset, index, value))
        proc = run(*args, "-o", out)
        assert f"{partial} is damaged (dataset '{dataset}' is inconsistent); starting over" in proc.stderr, proc.stderr
        assert out.read_bytes() == reference.read_bytes(), dataset
        assert not partial.exists()


def test_embed_resume_rewrites_the_committed_rows_and_starts_over_when_they_do_not_read_back(tmp_path, concise_bin):
    argv = embed_command(tmp_path, concise_bin, 12, batch=4, seed=17)
    reference = tmp_path / "reference.h5"
    run_to_completion([*argv, "-o", str(reference)])
    out = tmp_path / "embeddings.h5"
    partial = tmp_path / "embeddings.h5.partial"

    def committed(damage=None):
        """The finished file as an interrupted run could have left it after 8 images;
        damage(file) may then spoil a committed row."""
        partial.write_bytes(reference.read_bytes())
        with h5py.File(partial, "r+") as f:
            f.attrs["rows_done"] = np.int64(8)
            f.attrs["inputs_done"] = np.int64(8)
            if damage:
                damage(f)

    # A committed prefix in a file this run did not lay out itself: its rows and names
    # are read into a fresh file; the old one is never extended.
    committed()
    proc = subprocess.run([*argv, "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0 and "damaged" not in proc.stderr, proc.stderr
    assert out.read_bytes() == reference.read_bytes()
    assert not partial.exists() and not (tmp_path / "embeddings.h5.partial.resume").exists()

    out.unlink()

    def spoil(f):
        f["embeddings"][3, 0] = np.nan

    committed(spoil)
    proc = subprocess.run([*argv, "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"{partial} is damaged (dataset '/embeddings' is inconsistent); starting over" in proc.stderr, proc.stderr
    assert out.read_bytes() == reference.read_bytes()
    assert not partial.exists()
