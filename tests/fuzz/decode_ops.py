#!/usr/bin/env python3
"""Prints an input of fuzz_ops as the program it stands for, one operation a
line, with the arguments as fuzz_ops.c reads them: decode_ops.py FILE..."""
import sys

NSLOTS = 8
MAX_OPS = 160
# (name, argument names) in the order of fuzz_ops.c's opcode enum.
OPS = [
    ("NEW", "slot"), ("NEW_LOOP", "slot"), ("SET_RESULT", "slot arg"),
    ("SET_ERROR", "slot arg"), ("CANCEL", "slot msg"), ("SET_RUNNING", "slot"),
    ("ADD_CALLBACK", "slot on_loop"), ("REMOVE_CALLBACK", "rec"),
    ("WAIT", "slot how"), ("WAIT_MANY", "mask when"), ("AS_COMPLETED", "mask"),
    ("ALL", "mask collect dst"), ("ANY", "mask cancel_rest dst"),
    ("FIRST", "mask cancel_rest dst"), ("THEN", "src arg dst"),
    ("CHAIN", "src dst"), ("SHIELD", "src dst"), ("TIMEOUT", "src tmode dst"),
    ("CALL_SOON", "arg"), ("CALL_LATER", "arg"), ("HANDLE_CANCEL", "handle"),
    ("RUN", ""), ("STOP", ""), ("SUBMIT", "variant dst"),
    ("RUN_IN_EXECUTOR", "variant dst"), ("TASK", "target variant dst"),
    ("SHUTDOWN", "arg"), ("CLOSE", ""), ("UNREF", "slot"), ("DUP", "src dst"),
    ("BACKEND", ""), ("FAIL", "nth"), ("LOOP_UNREF", ""),
]
SLOTS = {"slot", "dst", "src", "other", "target"}


def show(name, arg, b):
    if arg in SLOTS:
        return f"{arg}={b % NSLOTS}"
    if arg == "mask":
        return "slots={" + ",".join(str(i) for i in range(8) if b >> i & 1) + "}"
    if name == "THEN" and arg == "arg":
        return f"executor={['inline', 'pool', 'loop'][(b & 3) % 3]} variant={(b >> 2) % 7}"
    if name == "TIMEOUT" and arg == "tmode":
        return ["due_now", "one_hour", "forever"][b % 3]
    if name in ("SUBMIT", "RUN_IN_EXECUTOR", "TASK") and arg == "variant":
        return f"variant={b % (3 if name == 'TASK' else 5)}"
    if name == "CALL_LATER" and arg == "arg":
        return ("one_hour" if b & 2 else "due_now") + f" handle={(b >> 2) % 5}"
    if name == "CALL_SOON" and arg == "arg":
        return f"handle={(b >> 2) % 5}"
    if name == "FAIL":
        return f"allocation={1 + b % 12} of the next operation"
    if name == "SHUTDOWN":
        return f"wait={b & 1} cancel_futures={(b >> 1) & 1}"
    return f"{arg}={b}"


def decode(data):
    pos = 0

    def u8():
        nonlocal pos
        if pos >= len(data):
            return 0
        pos += 1
        return data[pos - 1]

    ops = 0
    while pos < len(data) and ops < MAX_OPS:
        name, args = OPS[u8() % len(OPS)]
        print(name, " ".join(show(name, a, u8()) for a in args.split()))
        ops += 1


for path in sys.argv[1:]:
    if len(sys.argv) > 2:
        print(f"== {path}")
    with open(path, "rb") as f:
        decode(f.read())
