"""A codes file's concepts, for a dataset and its classes (`concise summarize`).

Reports the dataset's top concepts by mean weight and by frequency (SpLiCE's
decompose_dataset), each class's top concepts (decompose_classes), the concepts that
most separate two classes, the l0 histogram and the co-occurrence of the top concepts:
tables on the terminal, CSV and JSON files, PNG and SVG plots, and report.html, one
self-contained page with every table and plot (images embedded) for sharing.
"""
import argparse
import base64
import html
import os

import numpy as np
import scipy.sparse

from . import _plots
from ._inputs import InputProblem, load_labels, output_dir, read_names, run_command


# ---------------------------------------------------------------- reading

def is_manifest(path):
    """A folder of shards' codes files (from `concise decompose --scheduler`) or its manifest.json."""
    path = os.fspath(path)
    return os.path.isdir(path) or path.endswith((os.sep, ".json"))


def load_shards(path):
    """(CSR codes, concept names) of every shard a manifest lists, rows in shard order, each
    codes file checked against the manifest's sha256 and row count first."""
    from . import dask as sharded
    manifest = sharded.read_manifest(path)
    if not manifest.get("shards"):
        raise InputProblem(f"manifest '{sharded._manifest_path(path)}' lists no shards")
    sharded.verify(manifest)
    parts = [load_codes(os.path.join(manifest["_folder"], s["codes"])) for s in manifest["shards"]]
    concepts = parts[0][1]
    for s, (_, other) in zip(manifest["shards"], parts):
        if other != concepts:
            raise InputProblem(f"codes file '{os.path.join(manifest['_folder'], s['codes'])}' has other concepts than "
                               f"'{manifest['shards'][0]['codes']}', expected the same dictionary in every shard")
    return scipy.sparse.vstack([codes for codes, _ in parts], format="csr"), concepts


def load_codes(path):
    """(CSR codes, concept names) of a codes file, or of a manifest's shards as one."""
    path = os.fspath(path)
    if is_manifest(path):
        return load_shards(path)
    if not os.path.exists(path):
        raise InputProblem(f"codes file '{path}': no such file")
    import h5py
    try:
        with h5py.File(path, "r") as f:
            if "codes" not in f or f["codes"].attrs.get("encoding-type") != "csr_matrix":
                raise InputProblem(f"file '{path}' is not a codes file (no CSR group /codes); make one with "
                                   "`concise decompose`")
            if int(f.attrs.get("complete", 1)) != 1:
                raise InputProblem(f"codes file '{path}' is incomplete; finish the decomposition first")
            g = f["codes"]
            shape = tuple(int(x) for x in g.attrs["shape"])
            codes = scipy.sparse.csr_matrix((g["data"][:], g["indices"][:], g["indptr"][:]), shape=shape)
            concepts = list(f["concepts"].asstr()[:]) if "concepts" in f else [f"concept {i}" for i in range(shape[1])]
    except OSError as e:
        raise InputProblem(f"codes file '{path}' cannot be read as HDF5: {e}") from e
    return codes, concepts


# ---------------------------------------------------------------- statistics

def concept_table(codes, concepts, top):
    """Top concepts by mean weight (over all rows) and by frequency (share of rows using them)."""
    n = max(codes.shape[0], 1)
    mean = np.asarray(codes.sum(axis=0)).ravel() / n
    freq = np.bincount(codes.indices, minlength=codes.shape[1]) / n
    def rows(order):
        return [{"rank": i + 1, "concept": concepts[c], "mean_weight": float(mean[c]), "frequency": float(freq[c])}
                for i, c in enumerate(order[:top]) if freq[c] > 0]
    return rows(np.argsort(-mean, kind="stable")), rows(np.argsort(-freq, kind="stable")), mean, freq


def class_tables(codes, labels, class_names, concepts, top):
    out = {}
    for k, name in enumerate(class_names):
        members = codes[labels == k]
        if members.shape[0] == 0:
            continue
        by_mean, _, _, _ = concept_table(members, concepts, top)
        out[name] = {"rows": int(members.shape[0]), "top": by_mean}
    return out


def contrast_table(codes, labels, a, b, concepts, top):
    """The concepts that lean most to class a, then those that lean most to b, ordered by
    mean weight in a minus mean weight in b (largest first)."""
    mean_a = np.asarray(codes[labels == a].mean(axis=0)).ravel()
    mean_b = np.asarray(codes[labels == b].mean(axis=0)).ravel()
    diff = mean_a - mean_b
    order = np.argsort(-diff, kind="stable")
    pick = [c for c in order[:top] if diff[c] > 0] + [c for c in order[::-1][:top] if diff[c] < 0][::-1]
    return [{"concept": concepts[c], "mean_a": float(mean_a[c]), "mean_b": float(mean_b[c]),
             "difference": float(diff[c])} for c in pick]


def cooccurrence(codes, order, concepts):
    """Jaccard index of the row sets of the given concepts (and the counts of rows with both)."""
    present = (codes[:, order] > 0).astype(np.float64)
    both = np.asarray((present.T @ present).todense())
    counts = np.diag(both)
    union = counts[:, None] + counts[None, :] - both
    jaccard = np.where(union > 0, both / np.where(union > 0, union, 1), 0.0)
    return [concepts[c] for c in order], both.astype(np.int64), jaccard


# ---------------------------------------------------------------- plots

def plot_top(out, by_mean, by_freq, rows):
    fig, axes = _plots.new_figure(11, 0.32 * max(len(by_mean), 5) + 1.2, 1, 2)
    _plots.barh(axes[0][0], [r["concept"] for r in by_mean], [r["mean_weight"] for r in by_mean], "tab:blue",
                "Top concepts by mean weight", "mean weight over all rows", "{:.4f}")
    _plots.barh(axes[0][1], [r["concept"] for r in by_freq], [100 * r["frequency"] for r in by_freq], "tab:green",
                "Top concepts by frequency", "% of rows using the concept", "{:.1f}%")
    fig.suptitle(f"Dataset concepts ({rows} rows)")
    return _plots.save_figure(fig, out, "top_concepts")


def plot_classes(out, classes, per_class):
    names = list(classes)
    cols = min(3, len(names))
    nrows = (len(names) + cols - 1) // cols
    fig, axes = _plots.new_figure(5.2 * cols, (0.3 * per_class + 1.0) * nrows, nrows, cols)
    for i, ax in enumerate(axes.ravel()):
        if i >= len(names):
            ax.axis("off")
            continue
        top = classes[names[i]]["top"]
        _plots.barh(ax, [r["concept"] for r in top], [r["mean_weight"] for r in top], f"C{i % 10}",
                    f"{names[i]} ({classes[names[i]]['rows']} rows)", "mean weight", "{:.3f}")
    return _plots.save_figure(fig, out, "class_concepts")


def plot_contrast(out, rows, name_a, name_b):
    fig, axes = _plots.new_figure(7.5, 0.3 * max(len(rows), 4) + 1.4)
    ax = axes[0][0]
    y = list(range(len(rows)))[::-1]
    diffs = [r["difference"] for r in rows]
    ax.barh(y, diffs, color=["tab:blue" if d > 0 else "tab:red" for d in diffs])
    ax.set_yticks(y)
    ax.set_yticklabels([_plots.short(r["concept"]) for r in rows])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"mean weight in '{name_a}' minus mean weight in '{name_b}'")
    ax.set_title(f"Concepts that separate '{name_a}' (blue) from '{name_b}' (red)")
    return _plots.save_figure(fig, out, "contrast")


def plot_l0(out, l0):
    fig, axes = _plots.new_figure(7, 3.8)
    ax = axes[0][0]
    top = int(l0.max()) if len(l0) else 1
    bins = np.arange(-0.5, top + 1.5, 1) if top <= 60 else 40
    ax.hist(l0, bins=bins, color="tab:purple", edgecolor="white")
    ax.axvline(float(np.mean(l0)), color="black", linestyle="--", linewidth=1, label=f"mean {np.mean(l0):.1f}")
    ax.set_xlabel("l0: concepts per row")
    ax.set_ylabel("rows")
    ax.set_title(f"Sparsity of the codes ({len(l0)} rows)")
    ax.legend()
    return _plots.save_figure(fig, out, "l0_histogram")


def plot_cooccurrence(out, names, both, jaccard):
    size = 0.45 * len(names) + 2.5
    fig, axes = _plots.new_figure(size + 1.2, size)
    ax = axes[0][0]
    shown = jaccard.copy()
    np.fill_diagonal(shown, np.nan)
    im = ax.imshow(shown, cmap="viridis", vmin=0)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([_plots.short(n, 24) for n in names], rotation=60, ha="right")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels([_plots.short(n) for n in names])
    for i in range(len(names)):
        for j in range(len(names)):
            if i != j and both[i, j] > 0:
                ax.text(j, i, str(both[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if shown[i, j] < 0.6 * np.nanmax(shown) else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="Jaccard index of the rows using both")
    ax.set_title("Co-occurrence of the top concepts (numbers: rows with both)")
    return _plots.save_figure(fig, out, "cooccurrence")


# ---------------------------------------------------------------- report

def html_table(columns, rows):
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_plots.format_value(r.get(k, '')))}</td>" for k, _ in columns)
                   + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def embedded_png(path):
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def write_report(out, title, sections):
    """sections: (heading, html) pairs; one page, no external files."""
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;"
             "text-align:right}th{background:#f0f0f0}td:nth-child(2){text-align:left}img{max-width:100%}"
             "section{margin-bottom:2.5em}")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"]
    parts += [f"<section><h2>{html.escape(h)}</h2>{body}</section>" for h, body in sections]
    parts.append("</body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


# ---------------------------------------------------------------- command

def resolve_class(value, class_names, flag):
    if value in class_names:
        return class_names.index(value)
    try:
        k = int(value)
    except ValueError:
        raise InputProblem(f"{flag} {value!r} is not a class name; classes are {', '.join(class_names)}") from None
    if not 0 <= k < len(class_names):
        raise InputProblem(f"{flag} {k} is outside the classes 0..{len(class_names) - 1}")
    return k


def run_summarize(args):
    if args.top < 1:
        raise InputProblem(f"--top {args.top}: expected at least 1")
    codes, concepts = load_codes(args.codes)
    labels = class_names = None
    if args.labels:
        labels = load_labels(args.labels, codes.shape[0], f"codes file '{args.codes}'")
        if args.classes:
            class_names = read_names(args.classes, "classes")
            if labels.max() >= len(class_names):
                raise InputProblem(f"labels file '{args.labels}' has label {labels.max()}, but classes file "
                                   f"'{args.classes}' names {len(class_names)} classes")
        else:
            class_names = [str(k) for k in range(int(labels.max()) + 1)]
    elif args.classes or args.contrast:
        raise InputProblem("--classes and --contrast need --labels")
    contrast = None
    if labels is not None and len(class_names) >= 2:
        a, b = args.contrast or (class_names[0], class_names[1])
        contrast = (resolve_class(a, class_names, "--contrast"), resolve_class(b, class_names, "--contrast"))
        if contrast[0] == contrast[1]:
            raise InputProblem("--contrast needs two different classes")

    out = output_dir(args.output)
    l0 = np.diff(codes.indptr)
    by_mean, by_freq, _, freq = concept_table(codes, concepts, args.top)
    concept_columns = [("rank", "rank"), ("concept", "concept"), ("mean_weight", "mean weight"),
                       ("frequency", "frequency")]
    _plots.print_table(f"top concepts by mean weight ({codes.shape[0]} rows, mean l0 {l0.mean():.2f})",
                       concept_columns, by_mean)
    _plots.print_table("top concepts by frequency (share of rows)", concept_columns, by_freq)
    _plots.write_csv(out / "top_concepts_by_weight.csv", concept_columns, by_mean)
    _plots.write_csv(out / "top_concepts_by_frequency.csv", concept_columns, by_freq)
    figures = {"top_concepts": plot_top(out, by_mean, by_freq, codes.shape[0])}
    hist_values, hist_edges = np.histogram(l0, bins=np.arange(0, l0.max() + 2) if len(l0) else 1)
    hist_rows = [{"l0": int(e), "rows": int(v)} for e, v in zip(hist_edges[:-1], hist_values)]
    _plots.write_csv(out / "l0_histogram.csv", [("l0", "l0"), ("rows", "rows")], hist_rows)
    figures["l0_histogram"] = plot_l0(out, l0)
    used = np.argsort(-freq, kind="stable")[:min(args.cooccurrence, args.top)]
    used = [c for c in used if freq[c] > 0]
    co_names, both, jaccard = cooccurrence(codes, used, concepts)
    co_rows = [{"concept_a": co_names[i], "concept_b": co_names[j], "rows_with_both": int(both[i, j]),
                "jaccard": float(jaccard[i, j])} for i in range(len(co_names)) for j in range(len(co_names)) if i < j]
    co_columns = [("concept_a", "concept a"), ("concept_b", "concept b"), ("rows_with_both", "rows with both"),
                  ("jaccard", "jaccard")]
    _plots.write_csv(out / "cooccurrence.csv", co_columns, co_rows)
    if len(co_names) >= 2:
        figures["cooccurrence"] = plot_cooccurrence(out, co_names, both, jaccard)
    summary = {"codes": str(args.codes), "rows": int(codes.shape[0]), "concepts": int(codes.shape[1]),
               "mean_l0": float(l0.mean()) if len(l0) else 0.0, "top_by_mean_weight": by_mean,
               "top_by_frequency": by_freq, "l0_histogram": hist_rows, "cooccurrence": co_rows}
    sections = [("Dataset: top concepts", html_table(concept_columns, by_mean) + embedded_png(figures["top_concepts"][0])),
                ("Sparsity", f"<p>mean l0 {l0.mean():.2f}, median {np.median(l0):.0f}, max {l0.max()}</p>"
                             + embedded_png(figures["l0_histogram"][0]))]
    if labels is not None:
        classes = class_tables(codes, labels, class_names, concepts, args.per_class)
        class_rows = [dict(r, **{"class": name}) for name, c in classes.items() for r in c["top"]]
        class_columns = [("class", "class"), ("rank", "rank"), ("concept", "concept"),
                         ("mean_weight", "mean weight"), ("frequency", "frequency")]
        for name, c in classes.items():
            _plots.print_table(f"class {name} ({c['rows']} rows)", concept_columns, c["top"])
        _plots.write_csv(out / "class_concepts.csv", class_columns, class_rows)
        figures["class_concepts"] = plot_classes(out, classes, args.per_class)
        summary["classes"] = classes
        sections.append(("Classes: top concepts", embedded_png(figures["class_concepts"][0])
                         + html_table(class_columns, class_rows)))
        if contrast is not None:
            name_a, name_b = class_names[contrast[0]], class_names[contrast[1]]
            rows = contrast_table(codes, labels, contrast[0], contrast[1], concepts, args.per_class)
            contrast_columns = [("concept", "concept"), ("mean_a", f"mean in {name_a}"),
                                ("mean_b", f"mean in {name_b}"), ("difference", "difference")]
            _plots.print_table(f"concepts separating {name_a} from {name_b}", contrast_columns, rows)
            _plots.write_csv(out / "contrast.csv", contrast_columns, rows)
            figures["contrast"] = plot_contrast(out, rows, name_a, name_b)
            summary["contrast"] = {"a": name_a, "b": name_b, "concepts": rows}
            sections.append((f"What separates {name_a} from {name_b}", embedded_png(figures["contrast"][0])
                             + html_table(contrast_columns, rows)))
    if "cooccurrence" in figures:
        sections.append(("Co-occurrence of the top concepts", embedded_png(figures["cooccurrence"][0])))
    _plots.write_json(out / "summary.json", summary)
    report = write_report(out, f"Concept summary of {os.path.basename(os.path.normpath(os.fspath(args.codes)))}",
                          sections)
    print(f"wrote {out}: summary.json, CSV tables, {len(figures)} plots (PNG and SVG), {report.name}")


def main(argv=None, prog="concise summarize"):
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("codes", help="codes file (.h5) from `concise decompose`, or the folder (or its manifest.json) from "
                                 "`concise decompose --scheduler`: its shards as one codes set")
    p.add_argument("--labels", help="an integer class per row (.npy, or text: one per line)")
    p.add_argument("--classes", help="class names, one per line (labels index them)")
    p.add_argument("--contrast", nargs=2, metavar=("A", "B"),
                   help="two classes (names or numbers) to contrast (default: the first two)")
    p.add_argument("--top", type=int, default=20, help="concepts in the dataset tables (default: %(default)s)")
    p.add_argument("--per-class", type=int, default=8, help="concepts per class (default: %(default)s)")
    p.add_argument("--cooccurrence", type=int, default=15, help="top concepts in the co-occurrence map")
    p.add_argument("-o", "--output", default="summary", help="output folder (default: %(default)s)")
    args = p.parse_args(argv)
    return run_command(lambda: run_summarize(args), prog)


if __name__ == "__main__":
    raise SystemExit(main())
