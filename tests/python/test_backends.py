"""Backend plugins and the engine's one door: what `--version` lists, what a user is
told when a backend is missing, that the program and the module link neither CUDA
nor LibTorch, that defaults come from one place, and that a resume cannot switch
algorithm mid-file."""
import inspect
import os
import pathlib
import shutil
import subprocess

import h5py
import numpy as np
import pytest

FORBIDDEN = ("libtorch", "libc10", "libcudart", "libcublas", "libcusparse", "libcusolver", "libcuda.")


def needed_libraries(path):
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("readelf (binutils) is not installed")
    out = subprocess.run([readelf, "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return [line.split("[", 1)[1].split("]", 1)[0] for line in out.splitlines() if "(NEEDED)" in line]


def run_with_plugins_in(concise_bin, folder, *args):
    env = dict(os.environ, CONCISE_PLUGIN_PATH=str(folder))
    return subprocess.run([concise_bin, *map(str, args)], capture_output=True, text=True, env=env)


def test_version_lists_the_backends(run):
    out = run("--version").stdout
    assert out.startswith("concise ")
    assert "cpu (solvers): built in" in out
    assert "cuda (solvers):" in out and "clip_torch (CLIP encoders):" in out


def test_version_names_where_it_looked_for_missing_plugins(concise_bin, tmp_path):
    proc = run_with_plugins_in(concise_bin, tmp_path, "--version")
    assert proc.returncode == 0
    assert f"cuda (solvers): unavailable: libconcise_cuda.so was not found (looked in {tmp_path}" in proc.stdout


def test_backends_loads_the_plugins_and_says_what_they_can_run_on(run):
    out = run("backends").stdout
    assert "cpu (solvers): built in" in out
    cuda = next(line for line in out.splitlines() if line.strip().startswith("cuda (solvers)"))
    if "plugin" in cuda and "unavailable" in cuda:
        assert "no CUDA driver or GPU was found" in cuda or "cannot be loaded" in cuda, cuda


def test_the_program_links_neither_cuda_nor_libtorch(concise_bin):
    needed = needed_libraries(concise_bin)
    assert needed, "readelf found no NEEDED entries"
    assert not [lib for lib in needed if lib.startswith(FORBIDDEN)], needed


def test_the_python_module_links_neither_cuda_nor_libtorch():
    from concise import _core
    needed = needed_libraries(_core.__file__)
    assert not [lib for lib in needed if lib.startswith(FORBIDDEN)], needed


def test_asking_for_cuda_without_the_plugin_says_what_is_missing(synthetic, concise_bin, tmp_path):
    empty = tmp_path / "no_plugins"
    empty.mkdir()
    proc = run_with_plugins_in(concise_bin, empty, "decompose", synthetic / "emb.npy", "--dictionary",
                               synthetic / "dict.h5", "--device", "cuda", "-o", tmp_path / "c.h5")
    assert proc.returncode == 2, proc.stderr
    assert "device 'cuda' needs the CUDA backend plugin" in proc.stderr
    assert f"libconcise_cuda.so was not found (looked in {empty}" in proc.stderr
    assert not (tmp_path / "c.h5").exists() and not (tmp_path / "c.h5.partial").exists()


def test_asking_for_cuda_without_a_gpu_says_no_driver_or_gpu(synthetic, run, tmp_path):
    backends = run("backends").stdout
    if "libconcise_cuda.so was not found" in backends:
        pytest.skip("built without the CUDA backend")
    if "unavailable" not in backends.split("cuda (solvers)", 1)[1].splitlines()[0]:
        pytest.skip("a GPU is here")
    proc = run("decompose", synthetic / "emb.npy", "--dictionary", synthetic / "dict.h5", "--device", "cuda",
               "-o", tmp_path / "c.h5", check=False)
    assert proc.returncode == 2
    assert "device 'cuda' is not available: no CUDA driver or GPU was found" in proc.stderr


def test_a_bad_device_name_is_refused_with_the_names_it_takes(synthetic, run, tmp_path):
    proc = run("decompose", synthetic / "emb.npy", "--dictionary", synthetic / "dict.h5", "--device", "gpu0",
               "-o", tmp_path / "c.h5", check=False)
    assert proc.returncode == 2
    assert "device 'gpu0' is unknown, expected auto, cpu, cuda or cuda:N" in proc.stderr


def test_resume_refuses_a_partial_made_by_another_resolved_solver(synthetic, run):
    out = synthetic / "codes.h5"
    args = ("decompose", synthetic / "emb.npy", "--dictionary", synthetic / "dict.h5", "--device", "cpu",
            "--chunk", "64", "-o", out)
    run(*args, "--solver", "fista", "--max-chunks", "1")
    with h5py.File(f"{out}.partial", "r") as f:
        assert f.attrs["solver"] == "cpu/fista"  # what ran, not what was asked for
        assert f.attrs["device"] == "cpu"
    refused = run(*args, "--solver", "auto", check=False)
    assert refused.returncode == 2
    assert "solver cpu/fista, this run uses cpu/ws" in refused.stderr
    with h5py.File(f"{out}.partial", "r") as f:
        assert f.attrs["rows_done"] == 64  # untouched


def test_resume_accepts_the_same_solver_asked_for_another_way(synthetic, run):
    out = synthetic / "codes.h5"
    args = ("decompose", synthetic / "emb.npy", "--dictionary", synthetic / "dict.h5", "--device", "cpu",
            "--chunk", "64", "-o", out)
    run(*args, "--solver", "ws", "--max-chunks", "1")
    assert "resumed" in run(*args, "--solver", "auto").stdout  # auto runs ws on the CPU


def test_resume_on_the_cpu_refuses_a_partial_the_gpu_started(synthetic, run):
    out = synthetic / "codes.h5"
    args = ("decompose", synthetic / "emb.npy", "--dictionary", synthetic / "dict.h5", "--device", "cpu",
            "--chunk", "64", "--solver", "fista", "-o", out)
    run(*args, "--max-chunks", "1")
    with h5py.File(f"{out}.partial", "r+") as f:
        f.attrs["solver"] = "cuda/fista"
    refused = run(*args, check=False)
    assert refused.returncode == 2
    assert "solver cuda/fista, this run uses cpu/fista" in refused.stderr


def test_python_defaults_are_the_engines():
    import concise
    from concise import _core, splice
    defaults = _core.solve_defaults()
    assert defaults == {"l1": 0.25, "tol": 1e-4, "solver": "auto", "device": "auto", "max_iterations": 5000,
                        "l0_ratio": 0.9, "max_rounds": 40, "threads": 0}
    params = inspect.signature(concise.Decomposer).parameters
    for name in ("tol", "solver", "device", "max_iterations", "l0_ratio", "max_rounds", "threads"):
        assert params[name].default == defaults[name], name
    files = inspect.signature(concise.decompose_file).parameters
    assert files["device"].default == defaults["device"]
    # l1 is None by default: the engine's default unless l0 is given instead.
    assert params["l1"].default is None and files["l1"].default is None
    assert inspect.signature(splice.SPLICE).parameters["l1_penalty"].default == defaults["l1"]


def test_python_parses_devices_like_the_engine():
    from concise import _core
    assert _core.parse_device("cuda") == "cuda:0"
    assert _core.parse_device("cuda:2") == "cuda:2"
    with pytest.raises(ValueError, match="expected auto, cpu, cuda or cuda:N"):
        _core.parse_device("cuda:x")


def test_python_backends_and_a_missing_cuda_plugin(monkeypatch, tmp_path):
    import numpy as np

    import concise
    assert concise.backends()[0] == {"name": "cpu", "what": "solvers", "usable": True, "status": "built in"}
    dictionary = concise.Dictionary.from_atoms(np.eye(4, dtype=np.float32))
    assert concise.Decomposer(dictionary, device="cpu").device == "cpu"
    monkeypatch.setenv("CONCISE_PLUGIN_PATH", str(tmp_path))
    with pytest.raises(ValueError, match="libconcise_cuda.so was not found"):
        concise.Decomposer(dictionary, device="cuda")
    assert concise.Decomposer(dictionary).device == "cpu"  # auto falls back


def test_the_python_module_finds_plugins_beside_itself(monkeypatch):
    import concise
    from concise import _core
    monkeypatch.delenv("CONCISE_PLUGIN_PATH", raising=False)
    here = pathlib.Path(_core.__file__).resolve().parent
    for backend in concise.backends()[1:]:
        installed = here / f"libconcise_{backend['name']}.so"
        if installed.exists():  # pip install . shipped it
            assert str(installed) in backend["status"], backend
        else:
            assert "was not found" in backend["status"] and str(here) in backend["status"], backend


def test_the_pip_installed_program_finds_the_plugins_pip_installed():
    import sys
    program = pathlib.Path(sys.executable).parent / "concise"
    if not program.exists():
        pytest.skip("concise was not installed by pip install . into this environment")
    from concise import _core
    beside_module = pathlib.Path(_core.__file__).resolve().parent
    env = {k: v for k, v in os.environ.items() if k != "CONCISE_PLUGIN_PATH"}
    out = subprocess.run([str(program), "--version"], capture_output=True, text=True, env=env, check=True).stdout
    for plugin in beside_module.glob("libconcise_*.so"):
        name = plugin.name[len("libconcise_"):-len(".so")]
        line = next(line for line in out.splitlines() if line.strip().startswith(f"{name} ("))
        # Found where pip put it; a GPU-less machine may still say its driver is missing.
        assert "was not found" not in line and ("unavailable" not in line or "no CUDA driver" in line), line


EMULATED_CUDA = os.environ.get("CONCISE_EMULATED_CUDA_PLUGIN_DIR", "")


@pytest.mark.skipif(not (EMULATED_CUDA and (pathlib.Path(EMULATED_CUDA) / "libconcise_cuda.so").exists()),
                    reason="make test points CONCISE_EMULATED_CUDA_PLUGIN_DIR at the CUDA plugin built for the "
                           "CPU emulator of CUDA (tests/cuda_on_cpu)")
@pytest.mark.parametrize("solve", [["--solver", "ws"], ["--l0", "5"]], ids=["lambda", "l0"])
def test_a_file_decomposed_through_the_cuda_plugin_matches_the_cpu(synthetic, concise_bin, run, tmp_path, solve):
    """The engine's whole GPU path, plugin table included, on the CPU emulator of CUDA:
    the chunked job on --device cuda gives the CPU's objectives within the two gaps."""
    common = [synthetic / "emb.npy", "--dictionary", synthetic / "dict.h5", *solve]
    backends = run_with_plugins_in(concise_bin, EMULATED_CUDA, "backends").stdout
    assert "CPU emulator of an sm_90 GPU" in backends, backends
    gpu = run_with_plugins_in(concise_bin, EMULATED_CUDA, "decompose", *common, "--device", "cuda",
                              "-o", tmp_path / "gpu.h5")
    assert gpu.returncode == 0, gpu.stderr
    run("decompose", *common, "--device", "cpu", "-o", tmp_path / "cpu.h5")
    with h5py.File(tmp_path / "gpu.h5") as g, h5py.File(tmp_path / "cpu.h5") as c:
        obj_g, gap_g, obj_c, gap_c = (f["stats/" + k][:] for f in (g, c) for k in ("objective", "gap"))
        assert (g["stats/at_limit"][:] == 0).all()
        if solve[0] == "--l0":
            assert (g["stats/l0"][:] <= 5).all()
            lam_g, lam_c = g["stats/l1"][:], c["stats/l1"][:]
            same = abs(lam_g - lam_c) <= 1e-6 * lam_c
            assert same.mean() >= 0.9, f"{same.mean():.2f} of the rows on the CPU's grid point"
            obj_g, gap_g, obj_c, gap_c = obj_g[same], gap_g[same], obj_c[same], gap_c[same]
        assert (gap_g <= 1e-4 * obj_g * (1 + 1e-3)).all()
        assert (abs(obj_g - obj_c) <= np.maximum(gap_g, gap_c) * (1 + 1e-3) + 1e-6 * obj_c).all()
