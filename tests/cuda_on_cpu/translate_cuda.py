#!/usr/bin/env python3
"""Turns CUDA sources into C++ for the CPU emulator (include/concise_emu/emulator.hpp).

  kernel<<<grid, block, shared, stream>>>(args)   -> concise_emu::launch(...)
  extern __shared__ T name[];                     -> T* name = dynamic shared memory
  __shared__ T a[N], b;                           -> references to the block's objects
  cudaFuncSetAttribute(kernel, ...)               -> by the kernel's name

Usage: translate_cuda.py SOURCE OUTPUT
"""
import re
import sys


def matching(text, start, opening, closing):
    """Index just past the bracket that closes the one at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == opening:
            depth += 1
        elif text[i] == closing:
            depth -= 1
            if depth == 0:
                return i + 1
    raise SystemExit(f"unbalanced {opening}{closing} at offset {start}")


CALLEE = re.compile(r"((?:::)?[A-Za-z_][\w:]*(?:<[^<>;]*>)?)\s*$")


def launches(text):
    out, pos = [], 0
    while True:
        at = text.find("<<<", pos)
        if at < 0:
            out.append(text[pos:])
            return "".join(out)
        callee = CALLEE.search(text, 0, at)
        if callee is None:
            raise SystemExit(f"no kernel name before <<< at offset {at}")
        end_config = text.find(">>>", at)
        config = text[at + 3:end_config]
        paren = text.index("(", end_config)
        close = matching(text, paren, "(", ")")
        args = text[paren + 1:close - 1]
        name = callee.group(1)
        out.append(text[pos:callee.start(1)])
        out.append(f'::concise_emu::launch(::concise_emu::LaunchConfig({config}), "{name}", '
                   f"[](auto... a) {{ {name}(a...); }}" + (f", {args})" if args.strip() else ")"))
        pos = close


DYNAMIC = re.compile(r"extern\s+__shared__\s+([\w:<>, ]+?)\s+(\w+)\s*\[\s*\]\s*;")
STATIC = re.compile(r"__shared__\s+([^;]+);")
DECLARATOR = re.compile(r"^(\w+)\s*((?:\[[^\]]*\])*)$")


def split_top(text):
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch in "<([":
            depth += 1
        elif ch in ">)]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts


def static_shared(match):
    parts = split_top(match.group(1))
    first = parts[0]
    # The type is every token of the first declarator but its name (and array bounds).
    m = re.match(r"^(.*?)\s*\b(\w+)\s*((?:\[[^\]]*\])*)$", first)
    if m is None:
        raise SystemExit(f"cannot read the shared declaration: {match.group(0)}")
    base_type = m.group(1)
    declarators = [(m.group(2), m.group(3))]
    for p in parts[1:]:
        d = DECLARATOR.match(p)
        if d is None:
            raise SystemExit(f"cannot read the shared declarator {p!r} in {match.group(0)}")
        declarators.append((d.group(1), d.group(2)))
    lines = []
    for name, bounds in declarators:
        key = f"concise_shared_key_{name}"
        lines.append(f"static const char {key} = 0; auto& {name} = "
                     f"::concise_emu::shared<{base_type}{bounds}>(&{key});")
    return " ".join(lines)


def translate(text):
    text = launches(text)
    text = re.sub(r"cudaFuncSetAttribute\(\s*(\w+)\s*,", r'cudaFuncSetAttribute("\1",', text)
    text = DYNAMIC.sub(lambda m: f"{m.group(1)}* {m.group(2)} = ::concise_emu::dynamic_shared<{m.group(1)}>();",
                       text)
    text = STATIC.sub(static_shared, text)
    return text


def main():
    source, output = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as f:
        text = f.read()
    translated = f'#line 1 "{source}"\n' + translate(text)
    with open(output, "w", encoding="utf-8") as f:
        f.write(translated)


if __name__ == "__main__":
    main()
