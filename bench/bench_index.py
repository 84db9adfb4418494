"""The sparse index against faiss's exact dense search, side by side in one run.

At N synthetic codes (c concepts, l0 around 10, concept use skewed like real codes),
on --threads cores:
  - queries/s (a batch of queries) and p50/p99 latency (one query at a time) of
    concise.SparseIndex and of faiss IndexFlatIP over the recomposed dense embeddings
    and over "original" dense embeddings (the recomposition plus noise: a flat index
    costs the same whatever the vectors, both are measured);
  - the memory of each index.
On the real CIFAR-10 rows (../shared/data): recall@10 of the sparse search against
dense search over the original embeddings and over the recomposed ones.

    pip install -r bench/requirements.txt
    python bench/bench_index.py --sizes 1000000,4000000
"""
import argparse
import pathlib
import sys
import time

import numpy as np
import scipy.sparse

import concise

ROOT = pathlib.Path(__file__).resolve().parents[1]


def synthetic_codes(rng, n, c, l0, zipf):
    """n rows of codes: l0 ~ Poisson(l0) (at least 1) concepts drawn with P(rank r) ~ 1/(r + 10)^zipf,
    weights uniform in [0.01, 0.3]."""
    counts = np.maximum(1, rng.poisson(l0, size=n))
    p = 1.0 / (np.arange(c) + 10.0) ** zipf
    p /= p.sum()
    perm = rng.permutation(c)  # popular concepts spread over the ids
    cols = perm[rng.choice(c, size=int(counts.sum()), p=p)]
    rows = np.repeat(np.arange(n), counts)
    vals = rng.uniform(0.01, 0.3, size=len(cols)).astype(np.float32)
    m = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(n, c))
    m.sum_duplicates()
    return m


def dense_rows(codes, atoms, chunk=200_000, noise=0.0, rng=None):
    """codes @ atoms, normalized, in chunks (float32)."""
    out = np.empty((codes.shape[0], atoms.shape[1]), dtype=np.float32)
    for s in range(0, codes.shape[0], chunk):
        x = (codes[s:s + chunk] @ atoms).astype(np.float32)
        if noise:
            x += noise * rng.standard_normal(x.shape, dtype=np.float32)
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        out[s:s + chunk] = x
    return out


def latencies(fn, count):
    times = []
    for i in range(count):
        t = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t)
    return np.percentile(times, 50) * 1e3, np.percentile(times, 99) * 1e3


def bench_size(args, n, faiss):
    rng = np.random.default_rng(n)
    t = time.perf_counter()
    codes = synthetic_codes(rng, n, args.concepts, args.l0, args.zipf)
    queries = synthetic_codes(rng, args.queries, args.concepts, args.l0, args.zipf)
    print(f"\nN = {n:,}: {codes.nnz / n:.1f} concepts per row ({time.perf_counter() - t:.1f} s to generate)", flush=True)
    t = time.perf_counter()
    index = concise.SparseIndex.build(codes)
    build_s = time.perf_counter() - t
    results = {}
    t = time.perf_counter()
    rows, _ = index.search_codes(queries, args.k, threads=args.threads)
    sparse_qps = args.queries / (time.perf_counter() - t)
    p50, p99 = latencies(lambda i: index.search_codes(queries[i], args.k, threads=1), min(args.queries, 500))
    results["sparse index"] = (sparse_qps, p50, p99, index.memory_bytes, f"built in {build_s:.1f} s")
    # Exactness spot check against scoring every row.
    ref, _ = index.brute_force_codes(queries[:5], args.k)
    assert (ref == rows[:5]).all(), "sparse search differs from brute force"
    del codes

    atoms = rng.standard_normal((args.concepts, args.dim)).astype(np.float32)
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    q_dense = dense_rows(queries, atoms)
    nq = min(args.queries, args.faiss_queries)
    flats = [("faiss flat, recomposed", 0.0)]
    if n <= args.original_up_to:
        flats.append(("faiss flat, original", 0.05))
    for label, noise in flats:
        flat = faiss.IndexFlatIP(args.dim)
        gen = np.random.default_rng(1)
        batch = 250_000
        codes_again = synthetic_codes(np.random.default_rng(n), n, args.concepts, args.l0, args.zipf)
        for s in range(0, n, batch):
            flat.add(dense_rows(codes_again[s:s + batch], atoms, noise=noise, rng=gen))
        del codes_again
        t = time.perf_counter()
        flat.search(q_dense[:nq], args.k)
        qps = nq / (time.perf_counter() - t)
        p50, p99 = latencies(lambda i: flat.search(q_dense[i:i + 1], args.k), min(nq, args.faiss_latency_queries))
        results[label] = (qps, p50, p99, flat.ntotal * args.dim * 4, f"{nq} queries")
        flat.reset()  # frees its vectors before the next index is built
    print(f"{'':24s} {'queries/s':>10s} {'p50 ms':>9s} {'p99 ms':>9s} {'memory MB':>10s}")
    for label, (qps, p50, p99, mem, note) in results.items():
        print(f"{label:24s} {qps:10.1f} {p50:9.3f} {p99:9.3f} {mem / 1e6:10.1f}   {note}")
    flat_qps = results["faiss flat, recomposed"][0]
    print(f"sparse / faiss flat: {sparse_qps / flat_qps:.0f}x queries/s, index "
          f"{results['sparse index'][3] / results['faiss flat, recomposed'][3]:.3f} of the dense size", flush=True)
    return results


def recall_on_cifar(args, faiss):
    data = pathlib.Path(args.data) / "clip-vit-b32"
    if not (data / "cifar10_test200_embeddings.npy").exists():
        print(f"\nrecall@10: skipped, no CIFAR-10 rows at {data}")
        return
    emb = np.load(data / "cifar10_test200_embeddings.npy").astype(np.float32)
    names = (data / "lvis_concepts.txt").read_text().splitlines()
    dictionary = concise.Dictionary.build(np.load(data / "lvis_concepts.npy"), names, np.load(data / "image_mean.npy"))
    dense = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    k = 10
    print(f"\nrecall@10 of sparse search on the {len(emb)} CIFAR-10 rows (each row queries the others; LVIS, "
          f"{len(names)} concepts)")
    print(f"{'l1':>6s} {'mean l0':>8s} {'vs dense original':>18s} {'vs dense recomposed':>20s}")
    for l1 in (0.25, 0.1, 0.05):
        decomposer = concise.Decomposer(dictionary, l1=l1, device="cpu")
        codes = decomposer.decompose(emb)
        recomposed = decomposer.recompose(codes)
        index = concise.SparseIndex.build(codes)
        rows, _ = index.search_codes(codes, k + 1)
        recalls = []
        for reference in (dense, recomposed):
            flat = faiss.IndexFlatIP(reference.shape[1])
            flat.add(np.ascontiguousarray(reference, dtype=np.float32))
            _, truth = flat.search(np.ascontiguousarray(reference, dtype=np.float32), k + 1)
            r = []
            for q in range(len(emb)):
                want = [x for x in truth[q] if x != q][:k]
                got = [x for x in rows[q] if x != q and x >= 0][:k]
                r.append(len(set(want) & set(got)) / k)
            recalls.append(np.mean(r))
        print(f"{l1:6.2f} {np.diff(codes.indptr).mean():8.1f} {recalls[0]:18.3f} {recalls[1]:20.3f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000000", help="comma-separated N")
    p.add_argument("--concepts", type=int, default=10000)
    p.add_argument("--l0", type=float, default=10)
    p.add_argument("--zipf", type=float, default=1.0, help="skew of concept use (0: uniform)")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--queries", type=int, default=2000, help="sparse queries")
    p.add_argument("--faiss-queries", type=int, default=32,
                   help="faiss queries in the batch (20 or more take faiss's BLAS path; a flat scan is slow)")
    p.add_argument("--faiss-latency-queries", type=int, default=5, help="faiss queries timed one by one")
    p.add_argument("--original-up-to", type=int, default=1_000_000,
                   help="largest N that also gets a flat index over the original embeddings (it costs what the "
                        "recomposed one costs; 4M x 512 float32 is 8 GB each)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    args = p.parse_args()
    try:
        import faiss
    except ImportError:
        sys.exit("bench_index needs faiss: pip install -r bench/requirements.txt")
    faiss.omp_set_num_threads(args.threads)
    print(f"sparse index vs faiss IndexFlatIP: c = {args.concepts}, d = {args.dim}, k = {args.k}, "
          f"{args.threads} threads, concept use ~ 1/(rank + 10)^{args.zipf}")
    for n in (int(s) for s in args.sizes.split(",")):
        bench_size(args, n, faiss)
    recall_on_cifar(args, faiss)


if __name__ == "__main__":
    main()
