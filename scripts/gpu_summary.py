"""One page from the GPU bundle's logs (scripts/gpu_bundle.sh), key numbers first: the
parity verdict, then rows/s of the floor and the working set (FP32 and TF32 passes) at
c = 10k over batch sizes with the ratios to the floor and to SpLiCE's ADMM, then the
other sizes, memcheck, and how each step ended, as Markdown for bench/RESULTS.md.
It reads what a step left when it was cut short (a Google Benchmark JSON file without
its end, a test log without its summary), so run.sh rewrites it after every step.

    python3 gpu_summary.py LOG_FOLDER [MORE_FOLDERS...] > summary.md

Each file is taken from the first folder that has it.
"""
import json
import os
import re
import sys

BENCH_STEPS = ("ws_10k", "ws_small_lambda", "ws_l0", "ws_large")
STEP_LINE = re.compile(r"^=== (\S+): (ok|FAILED|TIMED OUT|SKIPPED)\b(.*)$")


class Logs:
    def __init__(self, folders):
        self.folders = folders

    def read(self, name):
        for folder in self.folders:
            try:
                with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as f:
                    return f.read()
            except OSError:
                continue
        return ""


def benchmarks_of(text):
    """The benchmarks of a Google Benchmark JSON file, also of one cut short (a timed-out
    step): (benchmarks, cut short?). Objects are decoded one by one from the array."""
    try:
        return json.loads(text).get("benchmarks", []), False
    except json.JSONDecodeError:
        pass
    key = text.find('"benchmarks"')
    at = text.find("[", key) if key >= 0 else -1
    if at < 0:
        return [], True
    decoder, found, i = json.JSONDecoder(), [], at + 1
    separators = re.compile(r"[\s,]*")
    while True:
        i = separators.match(text, i).end()
        try:
            obj, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            return found, True
        if isinstance(obj, dict):
            found.append(obj)


def steps_of(text):
    """{step: (state, rest of its line)} from steps.log; the last line of a step wins."""
    steps = {}
    for line in text.splitlines():
        m = STEP_LINE.match(line.strip())
        if m:
            steps[m.group(1)] = (m.group(2), m.group(3).strip())
    return steps


def gtest_progress(log):
    """(tests started but not finished, in order; passed count or None; failed names)."""
    open_tests = []
    for line in log.splitlines():
        m = re.match(r"\[ RUN      \] (\S+)", line)
        if m:
            open_tests.append(m.group(1))
            continue
        m = re.match(r"\[ +(?:OK|FAILED|SKIPPED) +\] (\S+?)(?:,| \(|$)", line)
        if m and m.group(1) in open_tests:
            open_tests.remove(m.group(1))
    passed = re.search(r"^\[  PASSED  \] (\d+) tests?\.", log, re.M)
    failed = sorted(set(re.findall(r"^\[  FAILED  \] ([A-Za-z][\w/.]*)", log, re.M)))
    return open_tests, int(passed.group(1)) if passed else None, failed


def step_note(steps, name):
    state, rest = steps.get(name, (None, ""))
    if state is None:
        return ""
    return f"{state.lower() if state == 'ok' else state} {rest}".strip()


def parity_verdict(log, steps):
    state = steps.get("parity", (None, ""))[0]
    if state == "SKIPPED":
        return "Parity tests: SKIPPED for lack of time (counts as a failure)"
    if not log:
        return "Parity tests: NOT RUN (no parity.log)"
    open_tests, passed, failed = gtest_progress(log)
    failed_note = f"; failed: {', '.join(failed[:8])}" + (" ..." if len(failed) > 8 else "") if failed else ""
    if state == "TIMED OUT":
        where = f"in {open_tests[-1]} (the last test started)" if open_tests else "(no test was running)"
        return f"Parity tests: TIMED OUT {where}{failed_note}"
    if re.search(r"^\[  SKIPPED \]", log, re.M):
        return "Parity tests: SKIPPED tests (count as a failure)" + failed_note
    if passed is not None and passed >= 1 and not failed and state in (None, "ok"):
        return f"Parity tests: passed ({passed} tests)"
    if failed:
        return (f"Parity tests: FAILED, {len(failed)} tests ({', '.join(failed[:8])}" +
                (" ..." if len(failed) > 8 else "") + ")")
    if open_tests:
        return f"Parity tests: did not finish: {open_tests[-1]} started and never ended ({step_note(steps, 'parity')})"
    return f"Parity tests: FAILED ({step_note(steps, 'parity') or 'no gtest summary'})"


def memcheck_verdict(log, steps):
    state, rest = steps.get("memcheck", (None, ""))
    if state == "SKIPPED":
        return "compute-sanitizer memcheck: SKIPPED for lack of time"
    if not log:
        return "compute-sanitizer memcheck: NOT RUN"
    if re.search(r"device (is )?not supported", log, re.I):
        return ("compute-sanitizer memcheck: unsupported on this runtime (compute-sanitizer: 'Device not supported'; "
                "it refuses the device on gVisor machines, runs on Firecracker ones)")
    if "No such file" in log and "compute-sanitizer" in log:
        return "compute-sanitizer memcheck: NOT RUN (compute-sanitizer not found)"
    errors = re.search(r"ERROR SUMMARY: (\d+) errors?", log)
    open_tests, passed, failed = gtest_progress(log)
    if state == "TIMED OUT":
        where = f" in {open_tests[-1]}" if open_tests else ""
        return f"compute-sanitizer memcheck: TIMED OUT{where}, {rest}"
    if errors and int(errors.group(1)) > 0:
        return f"compute-sanitizer memcheck: FAILED, {errors.group(1)} errors (see memcheck.log)"
    if errors and passed is not None and passed >= 1 and not failed:
        return f"compute-sanitizer memcheck: 0 errors, {passed} tests passed"
    if failed:
        return f"compute-sanitizer memcheck: tests FAILED under it ({', '.join(failed[:8])})"
    return ("compute-sanitizer memcheck: FAILED, no verdict (needs 'ERROR SUMMARY: 0 errors' and "
            f"'[  PASSED  ] N tests.'; {step_note(steps, 'memcheck') or 'see memcheck.log'})")


def splice_admm(log, steps):
    """(rows/s or None, is it an upper bound, one line)."""
    state = steps.get("splice_admm", (None, ""))[0]
    m = re.search(r"SpLiCE ADMM result: (at most )?([\d.]+) rows/s ?(.*)", log)
    per = re.findall(r"time per iteration: ([\d.]+) ms", log)
    head = re.search(r"SpLiCE ADMM baseline on (.*?): c=(\d+) d=(\d+) rows=(\d+) l1=(\S+)", log)
    what = (f"SpLiCE ADMM (torch on {head.group(1)}, c={head.group(2)} d={head.group(3)} rows={head.group(4)} "
            f"lambda {head.group(5)})" if head else "SpLiCE ADMM (torch, c=10000 d=512, lambda 0.25)")
    if m:
        upper = bool(m.group(1))
        rate = float(m.group(2))
        line = (f"{what}: {'at most ' if upper else ''}{rate:,.1f} rows/s "
                f"{m.group(3).strip()}" + (f", {per[-1]} ms per iteration" if per else ""))
        return rate, upper, line
    progress = re.findall(r"iteration (\d+): worst residual (\S+), ([\d.]+) ms/iteration, ([\d.]+) rows/s", log)
    if progress:
        it, residual, ms, rate = progress[-1]
        how = "timed out" if state == "TIMED OUT" else (step_note(steps, "splice_admm") or "cut short")
        return float(rate), True, (f"{what}: at most {float(rate):,.1f} rows/s "
                                   f"({how} at iteration {it}, worst residual {residual}, {ms} ms per iteration)")
    legacy = re.search(r"([\d.]+) rows/s \((\d+) iterations", log)  # the script's earlier output
    if legacy:
        return float(legacy.group(1)), False, (f"{what}: "
                                               f"{float(legacy.group(1)):,.1f} rows/s ({legacy.group(2)} iterations)")
    if state == "SKIPPED":
        return None, False, "SpLiCE ADMM: SKIPPED for lack of time"
    last = [l for l in log.strip().splitlines() if l.strip()][-1:] if log else []
    return None, False, ("SpLiCE ADMM: no number" + (f" ({step_note(steps, 'splice_admm')})" if state else " (NOT RUN)") +
                         (f": {last[0].strip()[:200]}" if last else ""))


def bench_rows(logs, steps, step):
    """Table rows of one bench step, with its state when it left no result."""
    state, rest = steps.get(step, (None, ""))
    text = logs.read(step + ".json")
    found, cut = benchmarks_of(text) if text else ([], False)
    errors = {str(b.get("error_message", "")) for b in found if b.get("error_occurred")}
    if len(found) > 1 and len(errors) == 1 and all(b.get("error_occurred") for b in found):
        rows = [("note", f"ERROR in all {len(found)} benchmarks: {errors.pop()[:200]}")]
    else:
        rows = [("bench", b) for b in found]
    if text and cut:
        rows.append(("note", f"cut short after {len(found)} results" + (f" ({state.lower()} {rest})" if state else "")))
    elif not found:
        if state is None:
            rows.append(("note", "NOT RUN"))
        elif state == "SKIPPED":
            rows.append(("note", "skipped for lack of time"))
        else:
            console = logs.read(step + ".log")
            errors = [l.strip() for l in console.splitlines() if "bench_solvers:" in l or "rror" in l]
            rows.append(("note", f"{state} {rest}, no results" + (f": {errors[-1][:200]}" if errors else "")))
    elif state not in (None, "ok"):
        rows.append(("note", f"{state} {rest}"))
    return rows


def table(logs, steps, names, admm_rate=None, admm_upper=False, with_step=True):
    head = ["step"] if with_step else []
    head += ["benchmark", "rows/s", "x floor"] + (["x SpLiCE ADMM"] if admm_rate is not None or not with_step else [])
    head += ["mean l0", "mean passes"]
    out = ["| " + " | ".join(head) + " |", "| " + " | ".join(["---"] * (2 if with_step else 1) +
                                                            ["---:"] * (len(head) - (2 if with_step else 1))) + " |"]
    for step in names:
        floors = {}
        for kind, b in bench_rows(logs, steps, step):
            cells = [step] if with_step else []
            if kind == "note":
                cells += [f"**{b}**"] + [""] * (len(head) - len(cells) - 1)
                out.append("| " + " | ".join(cells) + " |")
                continue
            name = b.get("name", "?")
            if b.get("error_occurred"):
                cells += [name, f"**ERROR**: {str(b.get('error_message', ''))[:200]}"] + [""] * (len(head) - len(cells) - 2)
                out.append("| " + " | ".join(cells) + " |")
                continue
            rate = b.get("rows/s")
            if rate is None:
                continue
            size = name.split("/", 1)[1] if "/" in name else name
            is_floor = name.startswith("floor")
            if is_floor:
                floors[size] = rate
            floor = floors.get(size)
            cells += [name, f"{rate:,.0f}", f"{rate / floor:.2f}" if floor and not is_floor else ""]
            if "x SpLiCE ADMM" in head:
                x = ""
                if admm_rate and not is_floor:
                    x = ("≥ " if admm_upper else "") + f"{rate / admm_rate:.1f}"
                cells.append(x)
            cells += [f"{b.get('mean_l0', 0):.1f}", f"{b.get('mean_iters', 0):.2f}"]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def device_line(text):
    gpu = re.search(r"NVIDIA [A-Z0-9][^|\n]*?(?=\s{2,}|\||$)", text, re.M)
    kernel = re.search(r"^kernel: (\S+)", text, re.M)
    cuda = re.search(r"^\s*cuda \(solvers\): (.*)$", text, re.M)
    line = gpu.group(0).strip() if gpu else "unknown (no GPU named by nvidia-smi)"
    if kernel:
        release = kernel.group(1)
        runtime = " (gVisor)" if release.startswith("4.4.0") else " (Firecracker)" if "-fc-" in release else ""
        line += f"; kernel {kernel.group(1)}{runtime}"
    if cuda:
        line += f"; concise's CUDA backend: {cuda.group(1).strip()[:200]}"
    return line


def main(folders):
    logs = Logs(folders)
    steps = steps_of(logs.read("steps.log"))
    print("## GPU run of the bundle\n")
    rev = logs.read("REV").strip()
    if rev:
        print("\n".join(f"{line}  " for line in rev.splitlines()) + "\n")
    print(f"Device: {device_line(logs.read('device.log'))}\n")
    parity = logs.read("parity.log")
    print("- " + parity_verdict(parity, steps))
    tf32 = re.search(r"TF32 GEMM error / bound: worst ([\d.]+), built rows ([\d.]+)", parity)
    print("- TF32 GEMM error / its bound (rules::tf32_dot_error): " +
          (f"worst {tf32.group(1)}, built rows {tf32.group(2)} (at most 1 keeps the TF32 pass exact)" if tf32 else
           "no number (see parity.log)"))
    admm_rate, admm_upper, admm_line = splice_admm(logs.read("splice_admm.log"), steps)
    print("\n### c = 10k, d = 512, lambda = 0.25: the floor and the working set by batch size (ws_10k)\n")
    print(table(logs, steps, ["ws_10k"], admm_rate, admm_upper, with_step=False))
    print()
    print("- " + admm_line + (" (so each ratio is a lower bound)" if admm_rate and admm_upper else ""))
    print("\n### Other sizes\n")
    print(table(logs, steps, BENCH_STEPS[1:]))
    print()
    print("- " + memcheck_verdict(logs.read("memcheck.log"), steps))
    print()
    print("Steps:\n")
    lines = [l for l in logs.read("steps.log").splitlines() if l.startswith("===")]
    print("\n".join(f"- {l[4:]}" for l in lines) if lines else "- none recorded")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
