"""`concise decompose --scheduler ADDRESS`: the C++ command hands the job to concise.dask,
here on a LocalCluster of 2 single-threaded worker processes started by the test."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

distributed = pytest.importorskip("distributed", reason="concise.dask needs dask[distributed] (requirements-dev.txt)")
h5py = pytest.importorskip("h5py")

import concise  # noqa: E402

D, C = 32, 200
ROWS = {"part0.npy": 37, "part1.npy": 80, "part2.npy": 5, "more.h5": 64}


@pytest.fixture(scope="module")
def scheduler():
    from dask.distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=40) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, write_shard_set):
    root = tmp_path_factory.mktemp("dask_cli")
    write_shard_set(root, ROWS, C, D, seed=2)
    return root


@pytest.fixture
def cli(concise_bin):
    def _run(*args, env=None, timeout=120):
        env = {**os.environ, "CONCISE_PYTHON": sys.executable, **(env or {})}
        return subprocess.run([concise_bin, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)
    return _run


def single_machine(cli, root, shard, out, *flags):
    """The same shard by `concise decompose` without Dask, with one solver thread as each
    worker runs (the solver's float sums depend on the thread count)."""
    proc = cli("decompose", root / shard, "--dictionary", root / "dict.h5", "-o", out, "--threads", "1", "-q", *flags)
    assert proc.returncode == 0, proc.stderr
    return out.read_bytes()


def test_cluster_run_is_byte_identical_to_one_machine(cli, scheduler, workspace, tmp_path):
    root = workspace
    out = tmp_path / "codes"
    # A quoted glob and a file: the glob's matches in sorted order, then the HDF5 file.
    proc = cli("decompose", root / "part*.npy", root / "more.h5", "--dictionary", root / "dict.h5", "-o", out,
               "--scheduler", scheduler, "--chunk", "16")
    assert proc.returncode == 0, proc.stderr
    assert "186 rows in 4 shards (4 decomposed, 0 already done" in proc.stdout and "4 on cpu" in proc.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["device"] for s in manifest["shards"]] == ["cpu"] * 4  # where each shard ran
    assert [os.path.basename(s["input"]) for s in manifest["shards"]] == list(ROWS)
    assert [s["rows"] for s in manifest["shards"]] == list(ROWS.values())
    assert manifest["settings"]["chunk"] == 16 and manifest["settings"]["l0"] == 0
    for s in manifest["shards"]:
        shard = os.path.basename(s["input"])
        assert (out / s["codes"]).read_bytes() == single_machine(cli, root, shard, tmp_path / f"{shard}.h5",
                                                                  "--chunk", "16"), shard

    again = cli("decompose", root / "part*.npy", root / "more.h5", "--dictionary", root / "dict.h5", "-o", out,
                "--scheduler", scheduler, "--chunk", "16")
    assert again.returncode == 0 and "(0 decomposed, 4 already done" in again.stdout
    other = cli("decompose", root / "part*.npy", root / "more.h5", "--dictionary", root / "dict.h5", "-o", out,
                "--scheduler", scheduler)
    assert other.returncode == 2 and "other settings" in other.stderr


def test_target_sparsity_on_a_cluster(cli, scheduler, workspace, tmp_path):
    root = workspace
    out = tmp_path / "codes"
    proc = cli("decompose", root / "part1.npy", root / "part2.npy", "--dictionary", root / "dict.h5", "-o", out,
               "--scheduler", scheduler, "--l0", "3", "-q")
    assert proc.returncode == 0, proc.stderr
    with h5py.File(out / "00000-part1.codes.h5", "r") as f:
        assert int(f.attrs["l0"]) == 3
        assert np.diff(f["codes/indptr"][:]).max() <= 3
    assert (out / "00000-part1.codes.h5").read_bytes() == single_machine(cli, root, "part1.npy", tmp_path / "ref.h5",
                                                                           "--l0", "3")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_names_the_address_and_writes_nothing(cli, workspace, tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    out = tmp_path / "codes"
    proc = cli("decompose", workspace / "part0.npy", "--dictionary", workspace / "dict.h5", "-o", out,
               "--scheduler", address, env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})
    assert proc.returncode == 2, proc.stderr
    assert f"cannot reach the Dask scheduler at {address}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("flags, message", [
    (["--max-chunks", "2"], "--max-chunks does not apply with --scheduler"),
    (["--max-iter", "10"], "--max-iter does not apply with --scheduler"),
    (["--model", "clip"], "--model does not apply with --scheduler"),
    (["-o", "{tmp}/codes.h5"], "--output is a folder"),
    (["-o", "{ws}/part1.npy"], "--output is a folder (one codes file per shard and manifest.json), not a file"),
    (["--l1", "-1"], "l1"),
    (["--dictionary", "{ws}/part1.npy"], "part1.npy"),
])
def test_flags_that_do_not_apply_are_refused_before_python(cli, workspace, tmp_path, flags, message):
    args = {"--dictionary": f"{workspace}/dict.h5", "-o": f"{tmp_path}/codes"}
    args.update(zip(flags[::2], (f.format(ws=workspace, tmp=tmp_path) for f in flags[1::2])))
    before = (workspace / "part1.npy").read_bytes()
    # No Python at all: the refusal comes from the C++ command itself.
    proc = cli("decompose", workspace / "part0.npy", *[x for kv in args.items() for x in kv],
               "--scheduler", "tcp://127.0.0.1:1", env={"CONCISE_PYTHON": "/nonexistent/python"})
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "codes").exists() and not (tmp_path / "codes.h5").exists()
    assert (workspace / "part1.npy").read_bytes() == before


def test_several_inputs_need_a_scheduler(cli, workspace, tmp_path):
    proc = cli("decompose", workspace / "part0.npy", workspace / "part1.npy", "--dictionary", workspace / "dict.h5",
               "-o", tmp_path / "codes.h5")
    assert proc.returncode == 2 and "several shards need --scheduler" in proc.stderr
    assert not (tmp_path / "codes.h5").exists()


def test_without_dask_the_error_says_what_to_install(cli, workspace, tmp_path):
    # The system Python has neither concise nor dask.
    proc = cli("decompose", workspace / "part0.npy", "--dictionary", workspace / "dict.h5", "-o", tmp_path / "codes",
               "--scheduler", "tcp://127.0.0.1:1",
               env={"CONCISE_PYTHON": "/usr/bin/python3", "PYTHONPATH": "", "PYTHONNOUSERSITE": "1"})
    assert proc.returncode == 1
    assert "dask[distributed]" in proc.stderr and "pip install .[dask]" in proc.stderr
    assert not (tmp_path / "codes").exists()


def test_help_shows_the_scheduler(cli):
    proc = cli("decompose", "--help")
    assert proc.returncode == 0 and "--scheduler ADDRESS" in proc.stdout and "manifest.json" in proc.stdout


def test_progress_across_shards_and_the_dashboard_link(scheduler, workspace, tmp_path, capsys):
    import concise.dask as cd
    from dask.distributed import Client
    with Client(scheduler) as client:
        cd.decompose_shards(str(workspace / "part*.npy"), workspace / "dict.h5", tmp_path / "codes", client=client,
                            progress=True, verbose=True)
        link = client.dashboard_link
    err = capsys.readouterr().err
    assert f"concise: 3 of 3 shards to decompose; dashboard {link}" in err
    assert "shards: 100%" in err and "3/3" in err and "rows/s" in err
    cd.decompose_shards(str(workspace / "part*.npy"), workspace / "dict.h5", tmp_path / "codes", progress=True,
                        verbose=True)  # nothing to do: no cluster is started, no bar is drawn
    assert capsys.readouterr().err == ""


def test_ctrl_c_stops_the_run_and_a_rerun_finishes_it(cli, concise_bin, scheduler, workspace, tmp_path):
    import signal
    import time
    import concise.dask as cd
    rng = np.random.default_rng(9)
    shards = []
    for i in range(4):
        shards.append(tmp_path / f"big{i}.npy")
        np.save(shards[-1], (rng.normal(size=(20000, D)) + 1.0).astype(np.float32))
    out = tmp_path / "codes"
    command = ["decompose", *shards, "--dictionary", workspace / "dict.h5", "-o", out, "--scheduler", scheduler,
               "--chunk", "500", "--l1", "0.05"]
    proc = subprocess.Popen([concise_bin, *map(str, command)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "CONCISE_PYTHON": sys.executable})
    deadline = time.time() + 60
    # A shard's codes file in progress (the manifest's own temporary file also ends in .partial).
    while time.time() < deadline and not any(out.glob("*.h5.partial")) and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "rerun the same command to resume" in err and "Traceback" not in err
    finished = sum(1 for s in json.loads((out / "manifest.json").read_text())["shards"] if s["sha256"])
    assert finished < 4, "the run ended before Ctrl-C"
    again = cli(*command)
    assert again.returncode == 0, again.stderr
    assert f"80000 rows in 4 shards ({4 - finished} decomposed, {finished} already done" in again.stdout
    cd.verify(out, inputs=True)
