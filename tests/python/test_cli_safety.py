"""The command line never loses data and says what went wrong: outputs that are
inputs, missing folders, usage errors, concurrent writers, Ctrl-C, full disks."""
import os
import pty
import resource
import select
import shutil
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest


def checksum(paths):
    return {p: p.read_bytes() for p in paths}


@pytest.fixture
def photos(data_dir, tmp_path, run):
    """The LVIS dictionary and the 7 photos' embeddings, copied into tmp_path."""
    for name in ("image_embeddings.npy", "image_embeddings.txt", "lvis_concepts.npy", "lvis_concepts.txt"):
        shutil.copy(data_dir / name, tmp_path / name)
    shutil.copy(data_dir.parent / "images" / "123_456.jpg", tmp_path / "photo.jpg")
    run("dictionary", "build", "--embeddings", tmp_path / "lvis_concepts.npy", "--names", tmp_path / "lvis_concepts.txt",
        "--image-mean", data_dir / "image_mean.npy", "-o", tmp_path / "d.h5")
    return tmp_path


# A small lambda on one thread, committed every 64 rows: the run lasts seconds even on
# an idle machine, long enough to be interrupted or raced while it writes.
SLOW_RUN = ["--l1", "0.05", "--threads", "1", "--chunk", "64"]


@pytest.fixture
def big(photos):
    """14k rows near the 7 photos: a decomposition that runs for several seconds."""
    rng = np.random.default_rng(0)
    e = np.load(photos / "image_embeddings.npy")
    rows = np.repeat(e, 2000, axis=0) + 0.05 * rng.normal(size=(14000, e.shape[1]))
    np.save(photos / "big.npy", rows.astype(np.float32))
    return photos


def test_an_output_that_is_an_input_is_refused_for_every_verb(photos, run):
    p = photos
    (p / "words.txt").write_text("cat\ndog\n")
    (p / "link.npy").symlink_to(p / "image_embeddings.npy")
    os.link(p / "d.h5", p / "hardlink.h5")
    inputs = [p / "image_embeddings.npy", p / "d.h5", p / "lvis_concepts.npy", p / "lvis_concepts.txt", p / "words.txt",
              p / "photo.jpg"]
    run("decompose", p / "image_embeddings.npy", "--dictionary", p / "d.h5", "-o", p / "c.h5")
    inputs.append(p / "c.h5")
    before = checksum(inputs)
    cases = [
        ("decompose", p / "image_embeddings.npy", "--dictionary", p / "d.h5", "-o", p / "image_embeddings.npy"),
        ("decompose", p / "image_embeddings.npy", "--dictionary", p / "d.h5", "-o", p / "d.h5"),
        ("decompose", p / "image_embeddings.npy", "--dictionary", p / "d.h5", "-o", p / "link.npy"),  # a symlink
        ("decompose", p / "image_embeddings.npy", "--dictionary", p / "d.h5", "-o", p / "hardlink.h5"),  # another name
        ("decompose", p, "--dictionary", p / "d.h5", "-o", p / "image_embeddings.npy"),  # a file in the input folder
        ("dictionary", "build", "--embeddings", p / "lvis_concepts.npy", "--names", p / "lvis_concepts.txt",
         "-o", p / "lvis_concepts.npy"),
        ("dictionary", "build", "--embeddings", p / "lvis_concepts.npy", "--names", p / "lvis_concepts.txt",
         "-o", p / "lvis_concepts.txt"),
        ("recompose", p / "c.h5", "--dictionary", p / "d.h5", "-o", p / "c.h5"),
        ("recompose", p / "c.h5", "--dictionary", p / "d.h5", "-o", p / "d.h5"),
        ("vocab", "mine", "--captions", p / "words.txt", "--min-count", 1, "-o", p / "words.txt"),
        ("vocab", "build", "--words", p / "words.txt", "--model", p, "-o", p / "words.txt"),
        ("embed", "--text", p / "words.txt", "--model", p, "-o", p / "words.txt"),
        ("preprocess", p / "photo.jpg", "-o", p / "photo.jpg"),
    ]
    for args in cases:
        proc = run(*args, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "is the input" in proc.stderr and "never overwrites" in proc.stderr, (args, proc.stderr)
    assert checksum(inputs) == before
    assert not list(p.glob("*.partial"))


def test_a_missing_output_folder_is_named(photos, run):
    for args in [("decompose", photos / "image_embeddings.npy", "--dictionary", photos / "d.h5"),
                 ("dictionary", "build", "--embeddings", photos / "lvis_concepts.npy",
                  "--names", photos / "lvis_concepts.txt")]:
        proc = run(*args, "-o", photos / "no" / "such" / "out.h5", check=False)
        assert proc.returncode == 2, proc.stderr
        assert f"output folder '{photos / 'no' / 'such'}' does not exist" in proc.stderr
        assert ".partial" not in proc.stderr
    assert not (photos / "no").exists()


@pytest.mark.parametrize("chunk", ["0", "-3"])
def test_chunk_must_be_positive(photos, run, chunk):
    proc = run("decompose", photos / "image_embeddings.npy", "--dictionary", photos / "d.h5", "--chunk", chunk,
               "-o", photos / "c.h5", check=False)
    assert proc.returncode == 2 and "--chunk" in proc.stderr and "1 row or more" in proc.stderr
    assert not (photos / "c.h5").exists()


@pytest.mark.parametrize("args", [[], ["decompose"], ["decompose", "x.npy"], ["dictionary"], ["dictionary", "build"],
                                  ["recompose", "c.h5"], ["decompose", "--no-such-flag"], ["frobnicate"]])
def test_usage_errors_exit_2(run, args):
    proc = run(*args, check=False)
    assert proc.returncode == 2, (args, proc.returncode, proc.stderr)
    assert proc.stderr.strip()


def test_help_and_version_exit_0(run):
    assert run("--help").returncode == 0
    assert run("decompose", "--help").returncode == 0
    assert "concise" in run("--version").stdout


def test_dictionaries_whose_centered_atoms_vanish_are_refused(tmp_path, run):
    np.save(tmp_path / "one.npy", np.ones((1, 8), np.float32))
    (tmp_path / "one.txt").write_text("cat\n")
    proc = run("dictionary", "build", "--embeddings", tmp_path / "one.npy", "--names", tmp_path / "one.txt",
               "-o", tmp_path / "d.h5", check=False)
    assert proc.returncode == 2 and "at least 2 concepts, got 1" in proc.stderr
    # Two rows pointing the same way center to zero too (each equals the mean).
    np.save(tmp_path / "same.npy", np.array([[1, 2, 3], [2, 4, 6]], np.float32))
    (tmp_path / "same.txt").write_text("cat\nbig cat\n")
    proc = run("dictionary", "build", "--embeddings", tmp_path / "same.npy", "--names", tmp_path / "same.txt",
               "-o", tmp_path / "d.h5", check=False)
    assert proc.returncode == 2 and "row 0 ('cat')" in proc.stderr and "centered atom is zero" in proc.stderr
    assert not list(tmp_path.glob("d.h5*"))
    # A stored dictionary with a zero atom is refused when loaded.
    with h5py.File(tmp_path / "zero.h5", "w") as f:
        f["atoms"] = np.array([[1, 0, 0], [0, 0, 0]], np.float32)
    np.save(tmp_path / "e.npy", np.ones((2, 3), np.float32))
    proc = run("decompose", tmp_path / "e.npy", "--dictionary", tmp_path / "zero.h5", "-o", tmp_path / "c.h5", check=False)
    assert proc.returncode == 2 and "'/atoms', row 1" in proc.stderr and "zero atom" in proc.stderr


def test_messages_name_the_names_file_and_the_shape_found(photos, tmp_path, run):
    (tmp_path / "few.txt").write_text("a\nb\nc\n")
    proc = run("dictionary", "build", "--embeddings", photos / "lvis_concepts.npy", "--names", tmp_path / "few.txt",
               "-o", tmp_path / "d2.h5", check=False)
    assert proc.returncode == 2
    assert f"file '{tmp_path / 'few.txt'}': has 3 names" in proc.stderr and "expected 1203" in proc.stderr
    np.save(tmp_path / "cube.npy", np.ones((2, 3, 4), np.float32))
    proc = run("decompose", tmp_path / "cube.npy", "--dictionary", photos / "d.h5", "-o", tmp_path / "c.h5", check=False)
    assert proc.returncode == 2 and "got shape (2, 3, 4)" in proc.stderr
    with h5py.File(tmp_path / "flat.h5", "w") as f:
        f["embeddings"] = np.ones(512, np.float32)
    proc = run("decompose", tmp_path / "flat.h5", "--dictionary", photos / "d.h5", "-o", tmp_path / "c.h5", check=False)
    assert proc.returncode == 2 and "got shape (512,)" in proc.stderr
    proc = run("dictionary", "build", "--embeddings", photos / "lvis_concepts.npy", "--names", photos / "lvis_concepts.txt",
               "--image-mean", tmp_path / "cube.npy", "-o", tmp_path / "d2.h5", check=False)
    assert proc.returncode == 2 and "expected a 1-D array" in proc.stderr and "got shape (2, 3, 4)" in proc.stderr


def test_recompose_suggests_the_nearest_names_ignoring_case(photos, run):
    run("decompose", photos / "image_embeddings.npy", "--dictionary", photos / "d.h5", "-o", photos / "c.h5")
    proc = run("recompose", photos / "c.h5", "--dictionary", photos / "d.h5", "--zero", "Cat", "-o", photos / "r.h5",
               check=False)
    assert proc.returncode == 2 and "concept 'Cat' is not in the dictionary" in proc.stderr
    assert "did you mean 'cat'" in proc.stderr
    proc = run("recompose", photos / "c.h5", "--dictionary", photos / "d.h5", "--zero", "STREET SINGS",
               "-o", photos / "r.h5", check=False)
    assert proc.returncode == 2 and "'street sign'" in proc.stderr
    assert not (photos / "r.h5").exists()


def test_dictionary_build_takes_a_model_name_and_model_means_a_folder(photos, run):
    run("dictionary", "build", "--embeddings", photos / "lvis_concepts.npy", "--names", photos / "lvis_concepts.txt",
        "--model-name", "openai/clip-vit-base-patch32", "-o", photos / "named.h5")
    assert "openai/clip-vit-base-patch32" in run("dictionary", "info", photos / "named.h5").stdout
    proc = run("dictionary", "build", "--embeddings", photos / "lvis_concepts.npy", "--names", photos / "lvis_concepts.txt",
               "--model", "openai/clip-vit-base-patch32", "-o", photos / "other.h5", check=False)
    assert proc.returncode == 2 and "--model" in proc.stderr
    for verb in (["embed", "--help"], ["vocab", "build", "--help"], ["decompose", "--help"]):
        assert "Hugging Face folder" in run(*verb).stdout


def test_explain_and_stats_name_both_cosines(photos, run):
    out = run("decompose", photos / "image_embeddings.npy", "--dictionary", photos / "d.h5", "-o", photos / "c.h5").stdout
    assert "mean centered cosine" in out and "mean SpLiCE cosine" in out
    shown = run("explain", photos / "c.h5", "--rows", "0").stdout
    assert "centered cosine" in shown and "SpLiCE cosine" in shown
    assert "centered cosine" in run("explain", "--help").stdout
    # An empty code explains nothing: its centered cosine is 0, while SpLiCE's cosine
    # (the image mean alone) stays high.
    run("decompose", photos / "image_embeddings.npy", "--dictionary", photos / "d.h5", "--l1", "100",
        "-o", photos / "empty.h5")
    with h5py.File(photos / "empty.h5") as f:
        assert (f["stats/l0"][:] == 0).all()
        assert (f["stats/centered_cosine"][:] == 0).all()
        assert (f["stats/cosine"][:] > 0.6).all()


def test_a_second_writer_of_the_same_output_is_refused(big, concise_bin):
    args = [concise_bin, "decompose", str(big / "big.npy"), "--dictionary", str(big / "d.h5"), *SLOW_RUN,
            "-o", str(big / "out.h5")]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while not (big / "out.h5.partial").exists() and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        assert first.poll() is None, "the first run ended too soon for this test"
        second = subprocess.run(args, capture_output=True, text=True)
        assert second.returncode == 2
        assert "another concise run is writing this output" in second.stderr
        assert first.poll() is None  # the second touched nothing the first needs
    finally:
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    with h5py.File(big / "out.h5") as f:
        assert f.attrs["complete"] == 1 and f["codes/indptr"].shape == (14001,)
        assert f["codes/indptr"][-1] == f["codes/data"].shape[0]


def test_ctrl_c_says_how_many_rows_and_how_to_resume(big, concise_bin):
    args = [concise_bin, "decompose", str(big / "big.npy"), "--dictionary", str(big / "d.h5"), *SLOW_RUN,
            "-o", str(big / "out.h5")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (big / "out.h5.partial").exists() and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130
    assert err.startswith("concise: interrupted after ") and "rerun the same command to resume" in err
    rows = int(err.split("after ")[1].split()[0])
    with h5py.File(big / "out.h5.partial") as f:
        assert f.attrs["rows_done"] == rows
    # On a terminal the progress line is ended first.
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, stdout=follower, stderr=follower)
    os.close(follower)
    shown = b""
    deadline = time.time() + 60
    while b"rows/s" not in shown and time.time() < deadline:  # interrupt once a progress line is up
        if select.select([leader], [], [], 0.1)[0]:
            shown += os.read(leader, 65536)
    proc.send_signal(signal.SIGINT)
    while True:
        try:
            piece = os.read(leader, 65536)
        except OSError:
            break
        if not piece:
            break
        shown += piece
    proc.wait(timeout=60)
    os.close(leader)
    assert proc.returncode == 130
    text = shown.decode()
    assert "rows/s" in text
    assert "   \r\nconcise: interrupted after" in text or "   \nconcise: interrupted after" in text, text[-300:]


def limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_a_write_failure_reports_the_system_reason_in_one_line(big, concise_bin):
    """A file size limit makes writes fail with EFBIG, like a full disk with ENOSPC."""
    proc = subprocess.run([concise_bin, "decompose", big / "big.npy", "--dictionary", big / "d.h5", "--chunk", "256",
                           "-o", big / "out.h5"],
                          capture_output=True, text=True, preexec_fn=limit_file_size)
    assert proc.returncode == 1, proc.stderr
    assert "File too large" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "HDF5-DIAG" not in proc.stderr and "infinite loop" not in proc.stderr
    assert not (big / "out.h5").exists()


def test_a_full_disk_reports_no_space_left(big, concise_bin, tmp_path):
    photos = big
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.decode().strip()})")
    try:
        for args in (["decompose", photos / "big.npy", "--dictionary", photos / "d.h5", "--chunk", "256"],
                     ["dictionary", "build", "--embeddings", photos / "lvis_concepts.npy",
                      "--names", photos / "lvis_concepts.txt"]):
            proc = subprocess.run([concise_bin, *map(str, args), "-o", str(small / "out.h5")], capture_output=True,
                                  text=True)
            assert proc.returncode == 1, proc.stderr
            assert "No space left on device" in proc.stderr
            assert len(proc.stderr.splitlines()) == 1, proc.stderr
            assert not (small / "out.h5").exists()
    finally:
        subprocess.run(["umount", str(small)], check=True)
