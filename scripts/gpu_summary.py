"""One page from the GPU bundle's logs (scripts/gpu_bundle.sh): the device, rows/s of
the floor and the working set (FP32 and TF32 passes) per size and batch, the ratios to
the floor and to SpLiCE's ADMM, the TF32 GEMM's error against its bound, and the parity
and memcheck verdicts, as Markdown for bench/RESULTS.md.

    python3 gpu_summary.py OUTPUT_FOLDER > OUTPUT_FOLDER/summary.md
"""
import json
import os
import re
import sys


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def benchmarks(out):
    rows = []
    for name in ("ws_10k", "ws_small_lambda", "ws_l0", "ws_large"):
        text = read(os.path.join(out, name + ".json"))
        if not text:
            rows.append((name, None))
            continue
        try:
            found = json.loads(text).get("benchmarks", [])
        except json.JSONDecodeError:  # the step was cut short
            found = []
        if not found:
            rows.append((name, None))
        for b in found:
            rows.append((name, b))
    return rows


def verdict(log, ok_pattern, what):
    if not log:
        return f"{what}: NOT RUN (no log)"
    if "SKIPPED" in log:
        return f"{what}: SKIPPED (counts as a failure)"
    if re.search(ok_pattern, log):
        return f"{what}: passed"
    failed = re.findall(r"\[  FAILED  \] ([A-Za-z][\w/.]*)", log)
    return f"{what}: FAILED" + (f" ({', '.join(sorted(set(failed))[:8])})" if failed else "")


def main(out):
    device = read(os.path.join(out, "device.txt"))
    gpu = re.search(r"NVIDIA [A-Z0-9][^|]*?(?=\s{2,}|\|)", device)
    print("## GPU run of the bundle\n")
    print(f"Device: {gpu.group(0).strip() if gpu else 'unknown (see device.txt)'}\n")
    print("- " + verdict(read(os.path.join(out, "parity.log")), r"\[  PASSED  \] \d+ tests?\.\s*$", "Parity tests"))
    tf32 = re.search(r"TF32 GEMM error / bound: worst ([\d.]+), built rows ([\d.]+)", read(os.path.join(out, "parity.log")))
    print("- TF32 GEMM error / its bound (rules::tf32_dot_error): " +
          (f"worst {tf32.group(1)}, built rows {tf32.group(2)} (at most 1 keeps the TF32 pass exact)" if tf32 else
           "no number (see parity.log)"))
    memcheck = read(os.path.join(out, "memcheck.log"))
    print("- compute-sanitizer memcheck: " + ("0 errors" if "ERROR SUMMARY: 0 errors" in memcheck else
                                            ("NOT RUN" if not memcheck else "see memcheck.log")))
    admm = re.search(r"([\d.]+) rows/s", read(os.path.join(out, "splice_admm.log")))
    admm_rate = float(admm.group(1)) if admm else None
    print(f"- SpLiCE ADMM (torch, c=10000 d=512): {admm_rate:.1f} rows/s" if admm_rate else
          "- SpLiCE ADMM: no number (see splice_admm.log)")
    print()
    print("| step | benchmark | rows/s | x floor | x SpLiCE ADMM | mean l0 | mean passes |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    floors = {}
    for step, b in benchmarks(out):
        if b is None:
            print(f"| {step} | NOT RUN | | | | | |")
            continue
        name, rate = b["name"], b.get("rows/s")
        if rate is None:
            continue
        size = name.split("/", 1)[1] if "/" in name else name
        if name.startswith("floor"):
            floors[size] = rate
        floor = floors.get(size)
        x_floor = f"{rate / floor:.2f}" if floor and not name.startswith("floor") else ""
        same_problem = step == "ws_10k" and not name.startswith("floor")  # SpLiCE's ADMM ran at lambda 0.25 too
        x_admm = f"{rate / admm_rate:.1f}" if admm_rate and same_problem else ""
        print(f"| {step} | {name} | {rate:,.0f} | {x_floor} | {x_admm} | {b.get('mean_l0', 0):.1f} | "
              f"{b.get('mean_iters', 0):.2f} |")
    print()
    print("Steps: " + "; ".join(line.strip("= \n") for line in read(os.path.join(out, "steps.log")).splitlines()))


if __name__ == "__main__":
    main(sys.argv[1])
