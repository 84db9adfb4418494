"""`concise explain` and `concise summarize` over the folder `concise decompose --scheduler`
writes: its shards read as one codes set, equal to one codes file of the same rows. The
folder is made once on a LocalCluster of 2 single-threaded workers; reading it needs none."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

distributed = pytest.importorskip("distributed", reason="concise.dask needs dask[distributed] (requirements-dev.txt)")
h5py = pytest.importorskip("h5py")

import concise  # noqa: E402

D, C = 32, 200
ROWS = {"part0.npy": 37, "part1.npy": 80, "part2.npy": 5, "more.h5": 64}  # shards start at rows 0, 37, 117, 122
TOTAL = sum(ROWS.values())


def run_cli(concise_bin, *args, env=None):
    env = {**os.environ, "CONCISE_PYTHON": sys.executable, **(env or {})}
    return subprocess.run([concise_bin, *map(str, args)], capture_output=True, text=True, env=env, timeout=120)


def stitch(parts, out):
    """One codes file holding the rows of the given ones in order (a decomposition of the
    concatenated rows would differ in the last bits of a few gaps: the solver's float sums
    depend on how many rows it solves at once)."""
    opened = [h5py.File(p, "r") for p in parts]
    try:
        rows = sum(int(f.attrs["n_rows"]) for f in opened)
        with h5py.File(out, "w") as f:
            f.attrs.update(dict(opened[0].attrs), n_rows=rows, rows_done=rows)
            opened[0].copy("concepts", f)
            g = f.create_group("codes")
            g.attrs.update(dict(opened[0]["codes"].attrs), shape=np.array([rows, C], dtype=np.int64))
            g["data"] = np.concatenate([p["codes/data"][:] for p in opened])
            g["indices"] = np.concatenate([p["codes/indices"][:] for p in opened])
            starts = np.cumsum([0] + [p["codes/data"].shape[0] for p in opened])
            g["indptr"] = np.concatenate([[0]] + [p["codes/indptr"][1:] + s for p, s in zip(opened, starts)])
            for name in opened[0]["stats"]:
                f[f"stats/{name}"] = np.concatenate([p[f"stats/{name}"][:] for p in opened])
    finally:
        for p in opened:
            p.close()


@pytest.fixture(scope="module")
def sets(tmp_path_factory, concise_bin, write_shard_set):
    """The shards decomposed on a cluster into codes/, and their codes as one file."""
    from dask.distributed import LocalCluster
    root = tmp_path_factory.mktemp("manifest_cli")
    write_shard_set(root, ROWS, C, D, seed=5)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=40) as cluster:
        proc = run_cli(concise_bin, "decompose", *[root / name for name in ROWS], "--dictionary", root / "dict.h5",
                       "-o", root / "codes", "--scheduler", cluster.scheduler_address, "-q")
    assert proc.returncode == 0, proc.stderr
    shards = json.loads((root / "codes" / "manifest.json").read_text())["shards"]
    stitch([root / "codes" / s["codes"] for s in shards], root / "all.codes.h5")
    (root / "names.txt").write_text("".join(f"image {r}\n" for r in range(TOTAL)))
    np.save(root / "labels.npy", np.random.default_rng(6).integers(0, 3, size=TOTAL))
    (root / "classes.txt").write_text("sea\nforest\ncity\n")
    return root


@pytest.fixture
def cli(concise_bin):
    return lambda *args, env=None: run_cli(concise_bin, *args, env=env)


def shard_copy(sets, tmp_path):
    folder = tmp_path / "codes"
    shutil.copytree(sets / "codes", folder)
    return folder, json.loads((folder / "manifest.json").read_text())["shards"]


@pytest.mark.parametrize("rows", ["0:10", "30:45", "110:130", "121", "180:", f"0:{TOTAL}", f"180:{TOTAL + 50}"])
def test_explain_over_a_manifest_equals_explain_of_one_file(cli, sets, rows):
    one = cli("explain", sets / "all.codes.h5", "--rows", rows, "--top", "4")
    assert one.returncode == 0, one.stderr
    for folder in (sets / "codes", f"{sets / 'codes'}/", sets / "codes" / "manifest.json"):
        sharded = cli("explain", folder, "--rows", rows, "--top", "4")
        assert sharded.returncode == 0, sharded.stderr
        assert sharded.stdout == one.stdout and sharded.stdout.startswith(f"row {rows.split(':')[0]}  l0 ")


def test_rows_are_numbered_across_the_shards(cli, sets):
    out = cli("explain", sets / "codes", "--rows", "35:39", "--top", "1").stdout
    numbers = [int(line.split()[1]) for line in out.splitlines() if line.startswith("row ")]
    assert numbers == [35, 36, 37, 38]  # 37 is the first row of the second shard


def test_labels_and_dictionary_keep_their_meaning(cli, sets):
    flags = ["--rows", "115:125", "--labels", sets / "names.txt", "--dictionary", sets / "dict.h5", "--top", "2"]
    one = cli("explain", sets / "all.codes.h5", *flags)
    sharded = cli("explain", sets / "codes", *flags)
    assert one.returncode == 0 and sharded.returncode == 0, sharded.stderr
    assert sharded.stdout == one.stdout and "row 122  image 122  l0 " in sharded.stdout

    other = sets / "other-dict.h5"
    rng = np.random.default_rng(8)
    concise.Dictionary.build((2.0 + rng.normal(size=(C, D))).astype(np.float32),
                             [f"concept {k}" for k in range(C)]).save(str(other))
    proc = cli("explain", sets / "codes", "--rows", "40:41", "--dictionary", other)
    assert proc.returncode == 2 and "00001-part1.codes.h5" in proc.stderr and "another dictionary" in proc.stderr


def test_a_failing_shard_stops_before_any_row_is_printed(cli, sets, tmp_path):
    import concise.dask as cd
    folder, shards = shard_copy(sets, tmp_path)
    codes = folder / shards[1]["codes"]
    with h5py.File(codes, "r+") as f:  # as if decomposed with another dictionary, checksum and all
        f.attrs["dictionary_fingerprint"] = "0123456789abcdef"
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["shards"][1]["sha256"] = cd.file_sha256(codes)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    proc = cli("explain", folder, "--rows", "30:45", "--dictionary", sets / "dict.h5")
    assert proc.returncode == 2 and f"{codes.name}': was made with another dictionary" in proc.stderr
    assert proc.stdout == ""


def test_rows_out_of_range_are_refused(cli, sets):
    proc = cli("explain", sets / "codes", "--rows", f"{TOTAL + 1}:{TOTAL + 9}")
    assert proc.returncode == 2 and proc.stdout == ""
    assert f"row {TOTAL + 1} is out of range, its shards hold {TOTAL} rows" in proc.stderr
    assert "manifest.json" in proc.stderr
    proc = cli("explain", sets / "codes", "--rows", "-3:2")
    assert proc.returncode == 2 and "rows must start at 0 or later" in proc.stderr


@pytest.mark.parametrize("damage, message", [
    ("tamper", "00001-part1.codes.h5 (shard {input}) changed: its sha256 differs from the manifest's"),
    ("delete", "00001-part1.codes.h5 (shard {input}) is missing"),
])
def test_a_changed_or_missing_shard_is_named(cli, sets, tmp_path, damage, message):
    folder, shards = shard_copy(sets, tmp_path)
    codes = folder / shards[1]["codes"]
    if damage == "tamper":
        saved = codes.read_bytes()
        codes.write_bytes(saved[:-1] + bytes([saved[-1] ^ 1]))
    else:
        codes.unlink()
    expected = message.format(input=shards[1]["input"])
    proc = cli("explain", folder, "--rows", "30:45")
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout
    assert expected in proc.stderr and "Traceback" not in proc.stderr
    # Only the shards holding the rows asked for are read, and checked.
    assert cli("explain", folder, "--rows", "0:5").returncode == 0
    proc = cli("summarize", folder, "-o", tmp_path / "summary")
    assert proc.returncode == 2 and expected in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "summary").exists()


def test_an_edited_manifest_is_refused(cli, sets, tmp_path):
    folder, shards = shard_copy(sets, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["shards"][2]["rows"] = 7
    (folder / "manifest.json").write_text(json.dumps(manifest))
    proc = cli("explain", folder, "--rows", "110:130")
    assert proc.returncode == 2 and proc.stdout == ""
    assert f"{shards[2]['codes']} (shard {shards[2]['input']}) holds 5 rows, the manifest expects 7" in proc.stderr

    manifest["shards"][2].update(rows=None, sha256=None)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    proc = cli("explain", folder)
    assert proc.returncode == 2 and f"shard 2 ({shards[2]['input']}): is not finished" in proc.stderr

    (folder / "manifest.json").unlink()
    for command in ("explain", "summarize"):
        proc = cli(command, folder)
        assert proc.returncode == 2 and "manifest.json" in proc.stderr and "Traceback" not in proc.stderr


def test_one_file_does_not_start_python(cli, sets):
    one = cli("explain", sets / "all.codes.h5", "--rows", "0:3", env={"CONCISE_PYTHON": "/nonexistent/python"})
    assert one.returncode == 0 and one.stdout.startswith("row 0  l0 ")
    sharded = cli("explain", sets / "codes", "--rows", "0:3", env={"CONCISE_PYTHON": "/nonexistent/python"})
    assert sharded.returncode == 1 and "cannot run Python (/nonexistent/python)" in sharded.stderr
    assert sharded.stdout == ""


def test_summarize_over_a_manifest_equals_one_file(cli, sets, tmp_path):
    pytest.importorskip("matplotlib")
    flags = ["--labels", sets / "labels.npy", "--classes", sets / "classes.txt", "--top", "12"]
    one = cli("summarize", sets / "all.codes.h5", *flags, "-o", tmp_path / "one")
    sharded = cli("summarize", sets / "codes", *flags, "-o", tmp_path / "sharded")
    assert one.returncode == 0, one.stderr
    assert sharded.returncode == 0, sharded.stderr
    assert sharded.stdout.replace(str(tmp_path / "sharded"), "OUT") == one.stdout.replace(str(tmp_path / "one"), "OUT")
    tables = sorted(p.name for p in (tmp_path / "one").glob("*.csv"))
    assert "class_concepts.csv" in tables and "contrast.csv" in tables
    assert sorted(p.name for p in (tmp_path / "sharded").glob("*.csv")) == tables
    for name in tables:
        assert (tmp_path / "sharded" / name).read_text() == (tmp_path / "one" / name).read_text(), name
    summary = {k: json.loads((tmp_path / d / "summary.json").read_text()) for k, d in (("one", "one"), ("s", "sharded"))}
    assert summary["s"].pop("codes") == str(sets / "codes")
    summary["one"].pop("codes")
    assert summary["s"] == summary["one"] and summary["s"]["rows"] == TOTAL
    assert "Concept summary of codes" in (tmp_path / "sharded" / "report.html").read_text()
