#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora (fuzz/corpus/NAME): small valid inputs that the
fuzzers mutate. The HDF5 harnesses read their input as choices and values (see
h5_builder.hpp), so their seeds are short byte strings; zeros mean "as expected"."""
import io
import json
import pathlib
import struct

import numpy as np

corpus = pathlib.Path(__file__).resolve().parent / "corpus"


def write(harness, name, data):
    folder = corpus / harness
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def npy(array, version=None):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), version=version)
    return buffer.getvalue()


def safetensors(tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, array) in tensors.items():
        raw = array.tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


rng = np.random.default_rng(0)
write("fuzz_npy", "f32_3x4.npy", npy(rng.standard_normal((3, 4)).astype("<f4")))
write("fuzz_npy", "f16_2x3.npy", npy(rng.standard_normal((2, 3)).astype("<f2")))
write("fuzz_npy", "f64_5.npy", npy(rng.standard_normal(5).astype("<f8")))
write("fuzz_npy", "f32_2x2x2_v2.npy", npy(rng.standard_normal((2, 2, 2)).astype("<f4"), version=(2, 0)))
write("fuzz_npy", "f32_0x4.npy", npy(np.zeros((0, 4), "<f4")))

write("fuzz_safetensors", "two_tensors.safetensors",
      safetensors({"a.weight": ("F32", rng.standard_normal((2, 3)).astype("<f4")),
                   "b.bias": ("F16", rng.standard_normal(4).astype("<f2"))}, {"format": "pt"}))
write("fuzz_safetensors", "f64_scalar.safetensors", safetensors({"s": ("F64", np.array(1.5, "<f8"))}))
write("fuzz_safetensors", "empty.safetensors", safetensors({}))

for harness in ("fuzz_embeddings_h5", "fuzz_dictionary", "fuzz_codes"):
    write(harness, "zeros", bytes(64))
    write(harness, "ones", bytes([1]) * 64)
    write(harness, "counting", bytes(range(128)))
