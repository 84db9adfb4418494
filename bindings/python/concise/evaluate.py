"""What replacing CLIP embeddings by concept codes costs (`concise evaluate`).

zeroshot: zero-shot classification accuracy of the dense embeddings and of SpLiCE's
recomposed embeddings, per l1 setting, with the mean l0 and two cosines: the recomposed
embedding's against the dense one (SpLiCE's), and the code's C^T w against the centered
embedding it approximates (the solver's space, before the image mean is added back).

retrieval: image-to-image (each row queries the others, relevant = same label) and
text-to-image (class prompts query the images of their class) precision@k and
recall@k (a relevant row within the top k), k = 1, 5, 10, for dense embeddings,
recomposed embeddings and the sparse index over the codes.

Both print a table and write NAME.json, NAME.csv, NAME.png and NAME.svg to --output.
"""
import argparse
import time

import numpy as np

from . import _plots
from ._core import Dictionary
from ._decomposer import Decomposer
from ._index import SparseIndex
from ._inputs import (InputProblem, embed_texts, load_labels, load_matrix, normalized, output_dir, read_names,
                      run_command)

KS = (1, 5, 10)


# ---------------------------------------------------------------- inputs

def load_dictionary(path):
    try:
        return Dictionary.load(str(path))
    except ValueError as e:
        raise InputProblem(str(e)) from e


def class_head(args, dim):
    """Class-prompt text embeddings [classes, d], normalized, and the class names."""
    if args.class_embeddings and args.class_names and not args.model:
        head = load_matrix(args.class_embeddings, "class embeddings")
        names = read_names(args.class_names, "class names")
        if len(names) != len(head):
            raise InputProblem(f"class names file '{args.class_names}' has {len(names)} names but class embeddings "
                               f"'{args.class_embeddings}' have {len(head)} rows")
        source = args.class_embeddings
    elif args.class_embeddings:
        head = load_matrix(args.class_embeddings, "class embeddings")
        names = [f"class {i}" for i in range(len(head))]
        source = args.class_embeddings
    elif args.class_names and args.model:
        names = read_names(args.class_names, "class names")
        if not names:
            raise InputProblem(f"class names file '{args.class_names}' is empty")
        head = embed_texts([args.prompt.format(n) for n in names], args.model, args.bpe, args.encoder_device)
        source = f"class names '{args.class_names}' encoded by '{args.model}'"
    else:
        raise InputProblem("a class head is needed: --class-embeddings FILE (.npy/HDF5 text embeddings, one row per "
                           "class), or --class-names FILE with --model DIR")
    if head.shape[1] != dim:
        raise InputProblem(f"class head {source} has dimension {head.shape[1]}, but the embeddings have {dim}; "
                           "expected text embeddings of the same CLIP model")
    return normalized(head), names


def load_inputs(args, head_required):
    """Embeddings, labels, dictionary and (class head, class names), all checked against each
    other before anything is computed or written. The head is (None, None) when it is optional
    and not given."""
    emb = load_matrix(args.embeddings, "embeddings")
    labels = load_labels(args.labels, len(emb), f"embeddings '{args.embeddings}'")
    dictionary = load_dictionary(args.dictionary)
    if dictionary.dim != emb.shape[1]:
        raise InputProblem(f"dictionary '{args.dictionary}' has dimension {dictionary.dim}, but embeddings "
                           f"'{args.embeddings}' have {emb.shape[1]}")
    head = (None, None)
    if head_required or args.class_embeddings or args.class_names:
        head = class_head(args, emb.shape[1])
        if labels.max() >= len(head[0]):
            raise InputProblem(f"labels file '{args.labels}' has label {labels.max()}, but the class head has "
                               f"{len(head[0])} classes")
    args._embeddings = emb
    return emb, labels, dictionary, head


def sweep(args):
    """The settings to sweep: ("l1", lambda) for each --l1, or ("l0", K) for each --l0."""
    if args.l0:
        for k in args.l0:
            if k < 1:
                raise InputProblem(f"--l0 {k}: expected at least 1 concept per row")
        return [("l0", k) for k in args.l0]
    for l1 in args.l1:
        if not l1 > 0:
            raise InputProblem(f"--l1 {l1}: expected a positive penalty")
    return [("l1", l1) for l1 in args.l1]


def solve_settings(args, dictionary):
    """(setting, decomposer, codes, stats, recomposed, seconds) per swept setting. setting has
    "l1" (with --l0, the mean of the rows' own lambdas), "l0" (the target, or None) and "label"."""
    for kind, value in sweep(args):
        start = time.perf_counter()
        penalty = {"l0": value} if kind == "l0" else {"l1": value}
        decomposer = Decomposer(dictionary, tol=args.tol, solver=args.solver, device=args.device, **penalty)
        codes, stats = decomposer.decompose(args._embeddings, return_stats=True)
        recomposed = decomposer.recompose(codes)
        setting = ({"l1": float(np.mean(stats.l1)), "l0": value, "label": f"l0≤{value}"} if kind == "l0"
                   else {"l1": value, "l0": None, "label": f"λ={value:g}"})
        yield setting, decomposer, codes, stats, recomposed, time.perf_counter() - start


# ---------------------------------------------------------------- zero-shot

def centered_cosine(dictionary, emb, codes):
    """Mean cosine between C^T w and the centered, normalized embedding z (0 for an empty code)."""
    z = normalized(emb)
    if dictionary.image_mean is not None:
        z = normalized(z - dictionary.image_mean)
    approx = np.asarray(codes @ dictionary.atoms)
    norms = np.linalg.norm(approx, axis=1)
    dots = np.sum(approx * z, axis=1)
    return float(np.mean(np.where(norms > 0, dots / np.where(norms > 0, norms, 1), 0.0)))


def zeroshot_accuracy(x, head, labels):
    return float(np.mean(np.argmax(x @ head.T, axis=1) == labels))


def run_zeroshot(args):
    emb, labels, dictionary, (head, class_names) = load_inputs(args, head_required=True)
    dense = normalized(emb)
    dense_acc = zeroshot_accuracy(dense, head, labels)
    rows = []
    for setting, _, codes, stats, recomposed, seconds in solve_settings(args, dictionary):
        rows.append({"l1": setting["l1"], "l0_target": setting["l0"], "label": setting["label"],
                     "dense_accuracy": dense_acc, "accuracy": zeroshot_accuracy(recomposed, head, labels),
                     "mean_l0": float(np.mean(stats.l0)),
                     "cosine": float(np.mean(np.sum(recomposed * dense, axis=1))),
                     "cosine_centered": centered_cosine(dictionary, emb, codes), "seconds": seconds})
    columns = [("l1", "l1 (mean)" if args.l0 else "l1")] + ([("l0_target", "target l0")] if args.l0 else [])
    columns += [("mean_l0", "mean l0"), ("dense_accuracy", "dense acc"), ("accuracy", "recomposed acc"),
               ("cosine", "cosine to dense"), ("cosine_centered", "cosine centered"), ("seconds", "seconds")]
    out = output_dir(args.output)
    _plots.print_table(f"zero-shot: {len(emb)} rows, {len(head)} classes, dictionary {dictionary.fingerprint} "
                       f"({len(dictionary)} concepts)", columns, rows)
    _plots.write_csv(out / "zeroshot.csv", columns, rows)
    _plots.write_json(out / "zeroshot.json", {
        "task": "zeroshot", "embeddings": str(args.embeddings), "labels": str(args.labels), "rows": len(emb),
        "classes": class_names, "dictionary": str(args.dictionary), "dictionary_fingerprint": dictionary.fingerprint,
        "concepts": len(dictionary), "dense_accuracy": dense_acc, "settings": rows})
    plot_accuracy_vs_l0(out, "zeroshot", [("recomposed", rows, "accuracy")], dense_acc,
                        "zero-shot accuracy", f"Zero-shot accuracy vs sparsity ({len(emb)} rows, {len(head)} classes)")
    print(f"wrote {out}/zeroshot.json, .csv, .png, .svg")


def plot_accuracy_vs_l0(out, stem, series, dense, ylabel, title, panels=None):
    """Accuracy (or precision) against mean l0, one line per series, the dense value dashed.
    panels: [(title, series, dense)] for several panels side by side."""
    panels = panels or [(title, series, dense)]
    fig, axes = _plots.new_figure(5.6 * len(panels), 4.0, 1, len(panels))
    colors = {"recomposed": "tab:blue", "sparse index": "tab:orange"}
    for ax, (panel_title, panel_series, panel_dense) in zip(axes[0], panels):
        values = [panel_dense]
        for i, (label, rows, key) in enumerate(panel_series):
            pts = sorted((r["mean_l0"], r[key], r["label"]) for r in rows)
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            values += ys
            ax.plot(xs, ys, "o-", color=colors.get(label), label=label)
            for x, y, label in pts if i == 0 else []:  # the first line names the settings
                ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 6), fontsize=8)
        ax.axhline(panel_dense, color="black", linestyle="--", linewidth=1, label=f"dense ({panel_dense:.3f})")
        ax.set_xscale("log")
        ax.set_xlabel("mean l0 (concepts per row, log scale)")
        ax.set_ylabel(ylabel)
        ax.set_title(panel_title)
        lo, hi = min(values), max(values)
        ax.set_ylim(max(0.0, lo - 0.1 * (hi - lo + 0.05)), min(1.0, hi + 0.1 * (hi - lo + 0.05)))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=8)  # clear of the points, wherever they fall
    return _plots.save_figure(fig, out, stem)


# ---------------------------------------------------------------- retrieval

def relevant_stats(ranked, relevant):
    """precision@k and recall@k (a relevant row in the top k) for ranked rows [q, >=10]
    and relevant [q, 10] booleans."""
    out = {}
    for k in KS:
        hit = relevant[:, :k]
        out[f"precision@{k}"] = float(np.mean(hit.sum(axis=1) / k))
        out[f"recall@{k}"] = float(np.mean(hit.any(axis=1)))
    return out


def dense_top(queries, gallery, k, exclude_self=False):
    """Top-k gallery rows by inner product, ties by lower row; -1 never occurs."""
    tops = []
    for start in range(0, len(queries), 1024):
        sims = queries[start:start + 1024] @ gallery.T
        if exclude_self:
            idx = np.arange(start, start + len(sims))
            sims[np.arange(len(sims)), idx] = -np.inf
        tops.append(np.argsort(-sims, axis=1, kind="stable")[:, :k])
    return np.concatenate(tops)


def sparse_top_self_excluded(index, codes, k):
    rows, _ = index.search_codes(codes, k + 1)
    out = np.full((len(rows), k), -1, dtype=np.int64)
    for q, r in enumerate(rows):
        keep = [x for x in r if x != q and x >= 0][:k]
        out[q, :len(keep)] = keep
    return out


def relevance(top, labels, query_labels):
    rel = np.zeros(top.shape, dtype=bool)
    valid = top >= 0
    rel[valid] = labels[top[valid]] == np.broadcast_to(query_labels[:, None], top.shape)[valid]
    return rel


def run_retrieval(args):
    emb, labels, dictionary, (head, _) = load_inputs(args, head_required=False)
    k = max(KS)
    dense = normalized(emb)
    image_q_labels = labels
    text_q_labels = np.arange(len(head)) if head is not None else None
    base = {"l1": float("nan"), "l0_target": None, "label": "", "mean_l0": float("nan"), "system": "dense"}
    rows = [dict(base, direction="image-to-image",
                 **relevant_stats(*_with_rel(dense_top(dense, dense, k, True), labels, image_q_labels)))]
    if head is not None:
        rows.append(dict(base, direction="text-to-image",
                         **relevant_stats(*_with_rel(dense_top(head, dense, k), labels, text_q_labels))))
    for setting, decomposer, codes, stats, recomposed, _ in solve_settings(args, dictionary):
        mean_l0 = float(np.mean(stats.l0))
        index = SparseIndex.build(codes, concepts=dictionary.concepts, fingerprint=dictionary.fingerprint)
        common = {"l1": setting["l1"], "l0_target": setting["l0"], "label": setting["label"], "mean_l0": mean_l0}
        rows.append(dict(common, system="recomposed", direction="image-to-image",
                         **relevant_stats(*_with_rel(dense_top(recomposed, recomposed, k, True), labels,
                                                     image_q_labels))))
        rows.append(dict(common, system="sparse index", direction="image-to-image",
                         **relevant_stats(*_with_rel(sparse_top_self_excluded(index, codes, k), labels,
                                                     image_q_labels))))
        if head is not None:
            rows.append(dict(common, system="recomposed", direction="text-to-image",
                             **relevant_stats(*_with_rel(dense_top(head, recomposed, k), labels, text_q_labels))))
            text_codes = decomposer.decompose(head)
            rows.append(dict(common, system="sparse index", direction="text-to-image",
                             **relevant_stats(*_with_rel(index.search_codes(text_codes, k)[0], labels,
                                                         text_q_labels))))
    columns = [("direction", "direction"), ("system", "system"), ("l1", "l1 (mean)" if args.l0 else "l1")]
    columns += ([("l0_target", "target l0")] if args.l0 else []) + [("mean_l0", "mean l0")]
    columns += [(f"{m}@{kk}", f"{m[0].upper()}@{kk}") for m in ("precision", "recall") for kk in KS]
    out = output_dir(args.output)
    _plots.print_table(f"retrieval: {len(emb)} rows (P@k: precision, R@k: a same-label row in the top k)",
                       columns, rows)
    _plots.write_csv(out / "retrieval.csv", columns, rows)
    _plots.write_json(out / "retrieval.json", {
        "task": "retrieval", "embeddings": str(args.embeddings), "labels": str(args.labels), "rows": len(emb),
        "dictionary": str(args.dictionary), "dictionary_fingerprint": dictionary.fingerprint, "results": rows})
    panels = []
    for direction in ("image-to-image", "text-to-image"):
        dense_rows = [r for r in rows if r["direction"] == direction and r["system"] == "dense"]
        if not dense_rows:
            continue
        series = [(system, [r for r in rows if r["direction"] == direction and r["system"] == system],
                   "precision@10") for system in ("recomposed", "sparse index")]
        panels.append((direction, series, dense_rows[0]["precision@10"]))
    plot_accuracy_vs_l0(out, "retrieval", None, None, "precision@10", None,
                        panels=[(f"{t}: precision@10 vs sparsity ({len(emb)} rows)", s, d) for t, s, d in panels])
    print(f"wrote {out}/retrieval.json, .csv, .png, .svg")


def _with_rel(top, labels, query_labels):
    return top, relevance(top, labels, query_labels)


# ---------------------------------------------------------------- command line

def add_common(p):
    p.add_argument("--embeddings", required=True, help="image embeddings [N, d] (.npy, or HDF5 /embeddings)")
    p.add_argument("--labels", required=True, help="an integer label per row (.npy, or text: one per line)")
    p.add_argument("--dictionary", required=True, help="concept dictionary (.h5) from `concise dictionary build`")
    penalty = p.add_mutually_exclusive_group()
    penalty.add_argument("--l1", type=float, nargs="+", default=[0.25], help="l1 penalties to sweep (default: 0.25)")
    penalty.add_argument("--l0", type=int, nargs="+", help="instead of --l1: target sparsities to sweep (at most K "
                                                           "concepts per row, each row's own lambda)")
    p.add_argument("--tol", type=float, default=1e-4, help="relative duality-gap tolerance")
    p.add_argument("--solver", default="auto", help="auto, ws, fista or admm")
    p.add_argument("--device", default="auto", help="solver device: auto, cpu, cuda or cuda:N")
    p.add_argument("--class-embeddings", help="class-prompt text embeddings [classes, d] (.npy or HDF5 /embeddings)")
    p.add_argument("--class-names", help="class names, one per line (labels index them); with --model they are "
                                         "encoded as --prompt")
    p.add_argument("--model", help="CLIP encoder folder for --class-names (the `concise embed` encoders)")
    p.add_argument("--bpe", help="CLIP's BPE merges for --model")
    p.add_argument("--encoder-device", default="auto", help="device of the encoder")
    p.add_argument("--prompt", default="a photo of a {}", help="prompt template for --class-names (default: %(default)s)")
    p.add_argument("-o", "--output", required=True, help="output folder for NAME.json, .csv, .png and .svg")


def main(argv=None, prog="concise evaluate"):
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="task", required=True)
    zs = sub.add_parser("zeroshot", help="zero-shot accuracy of dense vs recomposed embeddings per l1")
    add_common(zs)
    rt = sub.add_parser("retrieval", help="precision@k / recall@k of dense, recomposed and sparse-index search")
    add_common(rt)
    args = parser.parse_args(argv)
    return run_command(lambda: (run_zeroshot if args.task == "zeroshot" else run_retrieval)(args),
                       f"{prog} {args.task}")


if __name__ == "__main__":
    raise SystemExit(main())
