"""Tables (terminal, CSV, JSON) and matplotlib figures (PNG and SVG) for the reports."""
import csv
import json
import math

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "font.size": 10, "axes.titlesize": 11,
                     "axes.spines.top": False, "axes.spines.right": False, "svg.fonttype": "none"})


def format_value(v):
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:.4f}" if abs(v) < 1000 else f"{v:.1f}"
    return str(v)


def print_table(title, columns, rows, file=None):
    """A fixed-width table: columns are (key, header) pairs, rows dicts."""
    cells = [[format_value(r.get(key, "")) for key, _ in columns] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (_, h) in enumerate(columns)]
    lines = [title, "  ".join(h.rjust(w) for (_, h), w in zip(columns, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(cell, widths)) for cell in cells]
    print("\n".join(lines) + "\n", file=file, flush=True)


def write_csv(path, columns, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([key for key, _ in columns])
        for r in rows:
            w.writerow([r.get(key, "") for key, _ in columns])


def write_json(path, payload):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, ensure_ascii=False)
        f.write("\n")


def save_figure(fig, out_dir, stem):
    """Writes stem.png and stem.svg; returns their paths."""
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.svg"]
    fig.tight_layout()
    for p in paths:
        fig.savefig(p, bbox_inches="tight")
    plt.close(fig)
    return paths


def new_figure(width, height, rows=1, cols=1):
    return plt.subplots(rows, cols, figsize=(width, height), squeeze=False)


def short(label, width=32):
    """A concept name cut to fit beside a plot (the tables keep it whole)."""
    return label if len(label) <= width else label[:width - 1] + "\u2026"


def barh(ax, labels, values, color, title, xlabel, value_format="{:.3f}"):
    """Horizontal bars, largest at the top, each labelled with its value."""
    y = list(range(len(labels)))[::-1]
    ax.barh(y, values, color=color)
    ax.set_yticks(y)
    ax.set_yticklabels([short(label) for label in labels])
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    top = max(values) if len(values) else 1
    for yi, v in zip(y, values):
        ax.text(v + 0.01 * top, yi, value_format.format(v), va="center", fontsize=8)
    ax.set_xlim(0, top * 1.18 if top > 0 else 1)
