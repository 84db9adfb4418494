"""Image embedding throughput: `concise embed` (C++: libjpeg-turbo, PIL-exact resize,
LibTorch) against the Python pipeline SpLiCE users run (PIL + torchvision-style
preprocessing + transformers' CLIPModel), on the same model folder and photos.

    python bench/bench_embed.py --model DIR --images DIR [--repeat 30] [--device cpu|cuda] [--concise build/tools/concise]

The photos are repeated (symlinks) to make a folder big enough to time. The baseline
needs `pip install transformers pillow`; without it only concise is timed.
"""
import argparse
import os
import pathlib
import subprocess
import tempfile
import time

import numpy as np

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)[:, None, None]
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)[:, None, None]


def python_pipeline(model_dir, paths, batch, device):
    import torch
    from PIL import Image
    from transformers import CLIPModel

    torch.set_num_threads(os.cpu_count())  # concise uses every core too
    model = CLIPModel.from_pretrained(model_dir).eval().to(device)
    start = time.perf_counter()
    out = []
    for first in range(0, len(paths), batch):
        tensors = []
        for p in paths[first:first + batch]:
            im = Image.open(p).convert("RGB")
            w, h = im.size
            s = 224 / min(w, h)
            im = im.resize((224, int(224 * h / w)) if w <= h else (int(224 * w / h), 224), Image.BICUBIC)
            w, h = im.size
            left, top = int(round((w - 224) / 2.0)), int(round((h - 224) / 2.0))
            x = np.asarray(im.crop((left, top, left + 224, top + 224)), np.float32).transpose(2, 0, 1) / 255.0
            tensors.append((x - MEAN) / STD)
        with torch.no_grad():
            pixels = torch.from_numpy(np.stack(tensors)).to(device)
            out.append(model.get_image_features(pixel_values=pixels).cpu().numpy())
    return time.perf_counter() - start, np.concatenate(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--concise", default="build/tools/concise")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (both pipelines)")
    args = ap.parse_args()

    photos = sorted(p for p in pathlib.Path(args.images).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp, "photos")
        folder.mkdir()
        for r in range(args.repeat):
            for p in photos:
                os.symlink(p.resolve(), folder / f"{r:04d}_{p.name}")
        paths = sorted(folder.iterdir())
        n = len(paths)
        start = time.perf_counter()
        subprocess.run([args.concise, "embed", "--model", args.model, "--images", folder, "--batch", str(args.batch),
                        "--device", args.device, "-q", "-o", pathlib.Path(tmp, "emb.h5")], check=True, capture_output=True)
        concise_s = time.perf_counter() - start
        print(f"images: {n} ({len(photos)} photos x {args.repeat}), batch {args.batch}")
        print(f"concise embed, whole process (load model included): {concise_s:.2f} s, {n / concise_s:.1f} images/s")
        try:
            baseline_s, _ = python_pipeline(args.model, [str(p) for p in paths], args.batch, args.device)
        except ImportError as e:
            print(f"baseline skipped ({e})")
            return
        print(f"PIL + transformers CLIPModel, loop only (model load excluded): {baseline_s:.2f} s, "
              f"{n / baseline_s:.1f} images/s")
        print(f"ratio: {baseline_s / concise_s:.2f}x")


if __name__ == "__main__":
    main()
