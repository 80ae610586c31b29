"""Cross-check of the core's CBOR codec with an independent implementation,
Python's cbor2: what the core encodes, cbor2 decodes to the expected values,
and what cbor2 encodes, the core decodes (and encodes back to the same
values). Run by CTest as codec_interop with the path of tests/c/codec_tool.

Usage: python3 codec_interop.py CODEC_TOOL
"""
import math
import os
import subprocess
import sys
import tempfile

import cbor2

TAG_ERROR = 0x78660001
TAG_OPAQUE = 0x78660002

# What each sample of `codec_tool samples` must decode to.
EXPECTED = {
    "void": None,
    "true": True,
    "zero": 0,
    "neg1000": -1000,
    "int_max": 2**63 - 1,
    "int_min": -(2**63),
    "one_and_half": 1.5,
    "neg_zero": -0.0,
    "nan": math.nan,
    "neg_inf": -math.inf,
    "text": "h\u00e9llo\x00w",
    "bytes": b"\x00\x01\xff",
    "list": [1, [2, "x"], None, True],
    "map": {"k": 2.5, 7: True},
    "error": cbor2.CBORTag(TAG_ERROR, [-1, "ValueError", "bad", "Traceback: here"]),
    "opaque": cbor2.CBORTag(TAG_OPAQUE, ["python", b"\x80\x04N."]),
}

# Values cbor2 encodes and the repr the core gives them (None: the decoding
# error the core must report instead).
FROM_PYTHON = [
    (0, "0"),
    (23, "23"),
    (24, "24"),
    (-1000, "-1000"),
    (2**63 - 1, "9223372036854775807"),
    (-(2**63), "-9223372036854775808"),
    (2**64, "error XF_ERANGE"),
    (-(2**64) - 1, "error XF_ERANGE"),
    (1.5, "1.5"),
    (-0.0, "-0.0"),
    (math.inf, "inf"),
    (1e300, "1e+300"),
    (True, "true"),
    (None, "none"),
    ("", '""'),
    ("abc", '"abc"'),
    (b"\x01\x02", 'b"0102"'),
    ([], "[]"),
    ([1, [2, [3]]], "[1, [2, [3]]]"),
    ({"a": 1, "b": [True, None]}, '{"a": 1, "b": [true, none]}'),
    ({1: "x"}, '{1: "x"}'),
    (cbor2.CBORTag(TAG_ERROR, [-4, "TimeoutError", "slow", None]), None),
    (cbor2.CBORTag(TAG_OPAQUE, ["lua", b"\x1bLua"]), "object(xf.opaque)"),
    (cbor2.CBORTag(32, "http://x"), "error XF_ETYPE"),
]


def same(a, b):
    """Equality that treats NaN as equal to itself and tells -0.0 from 0.0."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a.keys()) == list(b.keys()) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, cbor2.CBORTag):
        return a.tag == b.tag and same(a.value, b.value)
    return a == b


def main():
    tool = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([tool, "samples", tmp], check=True)
        for name, want in EXPECTED.items():
            with open(os.path.join(tmp, name + ".cbor"), "rb") as f:
                got = cbor2.loads(f.read())
            if not same(got, want):
                failures.append(f"core -> cbor2: {name}: {got!r}, expected {want!r}")

        for canonical in (False, True):
            for i, (value, want_repr) in enumerate(FROM_PYTHON):
                src = os.path.join(tmp, f"py{i}.cbor")
                dst = os.path.join(tmp, f"py{i}.back.cbor")
                with open(src, "wb") as f:
                    f.write(cbor2.dumps(value, canonical=canonical))
                if os.path.exists(dst):
                    os.unlink(dst)
                out = subprocess.run(
                    [tool, "reencode", src, dst], check=True, capture_output=True, text=True
                ).stdout.strip()
                if want_repr is not None and out != want_repr:
                    failures.append(f"cbor2 -> core: {value!r}: {out}, expected {want_repr}")
                if out.startswith("error"):
                    continue
                with open(dst, "rb") as f:
                    back = cbor2.loads(f.read())
                if not same(back, value):
                    failures.append(f"cbor2 -> core -> cbor2: {value!r} came back as {back!r}")

    for line in failures:
        print(line)
    print(f"codec interop: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
