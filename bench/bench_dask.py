"""concise.dask throughput: rows/s on 1 and on 2 Dask workers, the scaling efficiency, and
the per-shard overhead, side by side in one run.

The dictionary is the LVIS concept set that ships in data/clip-vit-b32 (real CLIP ViT-B/32
text embeddings); the rows are synthetic image-like embeddings: the shipped image mean plus
sparse mixtures of concepts and noise, stored as float16 .npy shards like clip-retrieval's
img_emb_*.npy (half the disk of float32). Each worker is one single-threaded process
(LocalCluster, processes=True); the baseline is concise.decompose_file over the same shards
one after another in this process with one solver thread (no Dask).

Per-shard overhead: the same rows cut into shards of `--tiny` rows, on 1 worker; the extra
seconds per shard over the large-shard run are what a shard costs (scheduling, the
dictionary-cached task start, opening and committing a codes file, the sha256).
"""
import argparse
import contextlib
import os
import pathlib
import shutil
import sys
import tempfile
import time

import numpy as np

os.environ["OMP_NUM_THREADS"] = "1"  # before concise loads: the baseline runs one thread, like each worker
import concise  # noqa: E402
import concise.dask as cd  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "clip-vit-b32"


def make_shards(folder, dictionary, rows, shard_rows, seed=0):
    rng = np.random.default_rng(seed)
    dictionary = concise.Dictionary.load(str(dictionary))
    atoms = np.asarray(dictionary.atoms)
    mean = np.load(DATA / "image_mean.npy").astype(np.float32).ravel()
    paths = []
    for i, first in enumerate(range(0, rows, shard_rows)):
        n = min(shard_rows, rows - first)
        picks = rng.integers(0, len(atoms), size=(n, 6))
        weights = rng.random((n, 6)).astype(np.float32)
        x = np.einsum("nk,nkd->nd", weights, atoms[picks]) + 0.3 * rng.normal(size=(n, atoms.shape[1]))
        x = x / np.linalg.norm(x, axis=1, keepdims=True) + mean
        path = folder / f"img_emb_{i:04d}.npy"
        np.save(path, x.astype(np.float16))
        paths.append(str(path))
    return paths


def cluster_run(workers, shards, folder, name):
    from dask.distributed import Client, LocalCluster
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=40, env={"OMP_NUM_THREADS": "1"}) as cluster, Client(cluster) as client:
        client.run(lambda: concise.Dictionary)  # workers up and the module imported before timing
        start = time.perf_counter()
        manifest = cd.decompose_shards(shards, folder / "dict.h5", folder / name, client=client, progress=False,
                                       verbose=False)
        return manifest["rows"], time.perf_counter() - start, manifest["_run"]["task_seconds"]


def load():
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


@contextlib.contextmanager
def work_folder(path):
    """The given folder (kept), or a temporary one (removed)."""
    if path:
        pathlib.Path(path).mkdir(parents=True, exist_ok=True)
        yield pathlib.Path(path)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            yield pathlib.Path(tmp)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000, help="rows in the synthetic shard set (the goal: 2000000)")
    ap.add_argument("--shard-rows", type=int, default=20_000)
    ap.add_argument("--tiny", type=int, default=10, help="rows per shard for the per-shard overhead run")
    ap.add_argument("--tiny-rows", type=int, default=5_000, help="rows in the overhead runs")
    ap.add_argument("--work", help="folder for the shards and codes (default: a temporary one, removed); "
                                   "shards already there are reused")
    ap.add_argument("--generate-only", action="store_true", help="make the shard set in --work, measure nothing")
    args = ap.parse_args()

    with work_folder(args.work) as folder:
        for old in ("single", "tiny", "wide"):
            shutil.rmtree(folder / old, ignore_errors=True)
        text = np.load(DATA / "lvis_concepts.npy").astype(np.float32)
        names = (DATA / "lvis_concepts.txt").read_text().splitlines()
        mean = np.load(DATA / "image_mean.npy").astype(np.float32).ravel()
        concise.Dictionary.build(text, names, image_mean=mean).save(str(folder / "dict.h5"))
        print(f"dictionary: {len(names)} LVIS concepts x {text.shape[1]}; {args.rows} rows in float16 shards of "
              f"{args.shard_rows}; {os.cpu_count()} cores; {load()}", flush=True)
        big = folder / f"big-{args.rows}-{args.shard_rows}"
        for old in big.glob("out*"):
            shutil.rmtree(old)
        if not (big / "dict.h5").exists():
            start = time.perf_counter()
            shutil.rmtree(big, ignore_errors=True)
            big.mkdir()
            make_shards(big, folder / "dict.h5", args.rows, args.shard_rows)
            shutil.copy(folder / "dict.h5", big / "dict.h5")  # last: marks the shard set complete
            print(f"generated the shards in {time.perf_counter() - start:.1f} s", flush=True)
        shards = sorted(str(p) for p in big.glob("img_emb_*.npy"))
        if args.generate_only:
            return

        start = time.perf_counter()
        (folder / "single").mkdir()
        l0 = 0.0
        for i, s in enumerate(shards):
            summary = concise.decompose_file(s, str(big / "dict.h5"), str(folder / "single" / cd.codes_name(i, s)))
            l0 += summary["mean_l0"] * summary["rows"]
        single = time.perf_counter() - start
        read = sum(os.path.getsize(s) for s in shards) / args.rows
        written = sum(p.stat().st_size for p in (folder / "single").iterdir()) / args.rows
        print(f"mean l0 {l0 / args.rows:.2f} (l1 = {cd.DEFAULTS['l1']}); per row {read:.0f} bytes read (float16), "
              f"{written:.0f} bytes of codes file written", flush=True)
        print(f"{'no Dask, one process':<28} {args.rows / single:10.0f} rows/s  ({single:.1f} s; {load()})", flush=True)

        rates = {}
        for workers in (1, 2):
            rows, seconds, _ = cluster_run(workers, shards, big, f"out{workers}")
            rates[workers] = rows / seconds
            print(f"{f'Dask, {workers} worker(s)':<28} {rates[workers]:10.0f} rows/s  ({seconds:.1f} s; {load()})",
                  flush=True)
            for i, s in enumerate(shards):
                name = cd.codes_name(i, s)
                same = (big / f"out{workers}" / name).read_bytes() == (folder / "single" / name).read_bytes()
                if not same:
                    sys.exit(f"{name}: the cluster's codes differ from the single-process run")
        print(f"scaling efficiency 2 workers / (2 x 1 worker): {rates[2] / (2 * rates[1]):.0%}; "
              f"1 worker against no Dask: {rates[1] * single / args.rows:.0%}")

        (folder / "tiny").mkdir()
        tiny = make_shards(folder / "tiny", folder / "dict.h5", args.tiny_rows, args.tiny, seed=1)
        (folder / "wide").mkdir()
        wide = make_shards(folder / "wide", folder / "dict.h5", args.tiny_rows, args.tiny_rows, seed=1)
        shutil.copy(folder / "dict.h5", folder / "tiny" / "dict.h5")
        shutil.copy(folder / "dict.h5", folder / "wide" / "dict.h5")
        _, t_tiny, task_tiny = cluster_run(1, tiny, folder / "tiny", "out")
        _, t_wide, _ = cluster_run(1, wide, folder / "wide", "out")
        print(f"per-shard overhead on 1 worker: {(t_tiny - t_wide) / (len(tiny) - 1) * 1e3:.1f} ms against one big shard "
              f"({len(tiny)} shards of {args.tiny} rows: {t_tiny:.2f} s; one shard of {args.tiny_rows}: {t_wide:.2f} s); "
              f"outside the tasks (scheduling, results, manifest): {(t_tiny - task_tiny) / len(tiny) * 1e3:.1f} ms")

if __name__ == "__main__":
    main()
