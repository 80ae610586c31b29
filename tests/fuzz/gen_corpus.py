#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/ (committed; run again after
changing an opcode table). Each seed is a small hand-made program that
reaches one interesting path; every seed must pass on a correct library, so
programs that show a known bug belong in tests/fuzz/findings/ instead."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# fuzz_ops.c's opcodes, in the order of its enum.
OPS = """NEW NEW_LOOP SET_RESULT SET_ERROR CANCEL SET_RUNNING ADD_CALLBACK
REMOVE_CALLBACK WAIT WAIT_MANY AS_COMPLETED ALL ANY FIRST THEN CHAIN SHIELD
TIMEOUT CALL_SOON CALL_LATER HANDLE_CANCEL RUN STOP SUBMIT RUN_IN_EXECUTOR
TASK SHUTDOWN CLOSE UNREF DUP BACKEND FAIL LOOP_UNREF""".split()
OP = {name: i for i, name in enumerate(OPS)}


def prog(*ops):
    out = bytearray()
    for op in ops:
        name, *args = op if isinstance(op, tuple) else (op,)
        out.append(OP[name])
        out.extend(args)
    return bytes(out)


def mask(*slots):
    return sum(1 << s for s in slots)


ops_seeds = {
    # A free future: callbacks inline and on the loop, finished, waited on.
    "callbacks": prog(("NEW", 0), ("ADD_CALLBACK", 0, 0), ("ADD_CALLBACK", 0, 1),
                      ("SET_RESULT", 0, 1), ("WAIT", 0, 1), ("WAIT", 0, 2),
                      ("ADD_CALLBACK", 0, 0), "RUN"),
    # Remove a registration before the future finishes.
    "remove": prog(("NEW", 1), ("ADD_CALLBACK", 1, 0), ("REMOVE_CALLBACK", 0),
                   ("SET_ERROR", 1, 0), ("WAIT", 1, 1)),
    # A loop future cancelled, its callbacks posted and run.
    "loop_cancel": prog(("NEW_LOOP", 2), ("ADD_CALLBACK", 2, 0), ("CANCEL", 2, 1),
                        ("WAIT", 2, 2), "RUN", "RUN"),
    # Start a future, then cancelling it fails.
    "running": prog(("NEW", 0), ("SET_RUNNING", 0), ("CANCEL", 0, 0),
                    ("SET_RESULT", 0, 2), ("SET_RUNNING", 0)),
    # all / any / first over finished inputs.
    "combinators": prog(("NEW", 0), ("NEW", 1), ("NEW", 2),
                        ("ALL", mask(0, 1), 0, 3), ("ANY", mask(0, 1, 2), 1, 4),
                        ("FIRST", mask(1, 2), 1, 5), ("SET_RESULT", 0, 0),
                        ("SET_ERROR", 1, 1), ("SET_RESULT", 2, 1),
                        ("WAIT_MANY", 0xff, 0), ("AS_COMPLETED", 0xff)),
    # all with errors collected; a cancelled input.
    "all_collect": prog(("NEW", 0), ("NEW", 1), ("ALL", mask(0, 1), 1, 2),
                        ("CANCEL", 0, 0), ("SET_ERROR", 1, 0), ("WAIT", 2, 1)),
    # then on each executor (arg: executor | variant << 2); continuations
    # that finish, fail, or unwrap a pool task or a finished future.
    "then": prog(("NEW", 0), ("THEN", 0, 0, 2), ("THEN", 0, 1 | 1 << 2, 3),
                 ("THEN", 0, 2 | 2 << 2, 4), ("THEN", 0, 3 << 2, 5),
                 ("THEN", 0, 1 | 4 << 2, 6), ("THEN", 0, 2 | 5 << 2, 7),
                 ("SET_RESULT", 0, 0), "RUN", "RUN"),
    # Cancel a then() result while it follows an unwrapped pool task.
    "then_cancel": prog(("NEW", 0), ("THEN", 0, 4 << 2, 1), ("SET_RESULT", 0, 0),
                        ("CANCEL", 1, 0), ("WAIT", 1, 1)),
    # chain and shield, cancellation through both.
    "chain_shield": prog(("NEW", 0), ("NEW", 1), ("CHAIN", 0, 1), ("SHIELD", 1, 2),
                         ("CANCEL", 2, 0), ("SET_RESULT", 0, 0), ("WAIT", 1, 0)),
    # A timeout that fires and one that never does.
    "timeout": prog(("NEW_LOOP", 0), ("TIMEOUT", 0, 0, 1), ("TIMEOUT", 0, 1, 2),
                    ("TIMEOUT", 0, 2, 3), "RUN", "RUN", ("SET_RESULT", 0, 0), "RUN"),
    # Callbacks and timers on the loop, one of them cancelled.
    "loop_calls": prog(("CALL_SOON", 0), ("CALL_LATER", 1 << 2), ("CALL_LATER", 2 | 2 << 2),
                       ("HANDLE_CANCEL", 2), "STOP", "RUN", "RUN"),
    # The pool: every kind of task, run_in_executor, a post to the loop.
    "pool": prog(("SUBMIT", 0, 0), ("SUBMIT", 1, 1), ("SUBMIT", 2, 2), ("SUBMIT", 3, 3),
                 ("SUBMIT", 4, 4), ("RUN_IN_EXECUTOR", 1, 5), ("THEN", 5, 1, 6),
                 ("SHUTDOWN", 1), "RUN", ("WAIT_MANY", 0xff, 0)),
    # Shut the pool down, cancelling what is queued, then submit again.
    "shutdown": prog(("SUBMIT", 0, 0), ("SUBMIT", 1, 1), ("SHUTDOWN", 2),
                     ("SUBMIT", 0, 2), ("RUN_IN_EXECUTOR", 0, 3)),
    # Tasks: one awaits a future, one yields, one fails.
    "tasks": prog(("NEW_LOOP", 0), ("TASK", 0, 0, 1), ("TASK", 0, 1, 2), ("TASK", 0, 2, 3),
                  "RUN", ("SET_RESULT", 0, 0), "RUN", "RUN", ("CANCEL", 2, 0), "RUN"),
    # Close the loop with work queued, then try to use it.
    "close": prog(("NEW_LOOP", 0), ("ADD_CALLBACK", 0, 0), ("CALL_SOON", 0), "CLOSE",
                  ("SET_RESULT", 0, 0), "RUN", ("NEW_LOOP", 1), ("TIMEOUT", 0, 0, 2),
                  ("TASK", 0, 0, 3), ("CALL_SOON", 0)),
    # Allocation failures in combinators, then, chain and callbacks.
    "fail_alloc": prog(("NEW", 0), ("NEW", 1), ("FAIL", 2), ("ALL", mask(0, 1), 0, 2),
                       ("FAIL", 0), ("THEN", 0, 0, 3), ("FAIL", 1), ("CHAIN", 0, 1),
                       ("FAIL", 0), ("ADD_CALLBACK", 0, 0), ("FAIL", 0), ("CANCEL", 2, 1),
                       ("SET_RESULT", 0, 0), ("SET_RESULT", 1, 0)),
    # The program drops the loop while a worker still posts to it and loop
    # futures follow pool tasks.
    "loop_unref": prog(("NEW_LOOP", 0), ("SUBMIT", 4, 1), ("RUN_IN_EXECUTOR", 0, 2),
                       ("THEN", 2, 2, 3), "LOOP_UNREF", ("SET_RESULT", 0, 0),
                       ("NEW_LOOP", 4), "RUN"),
    # Duplicated references, dropped one by one.
    "refs": prog(("NEW", 0), ("DUP", 0, 1), ("DUP", 1, 2), ("UNREF", 0),
                 ("SET_RESULT", 2, 0), ("UNREF", 1)),
}

# fuzz_signature: a control byte (error buffer size, top bit: fail an
# allocation), then the text.
sig_seeds = {
    "canonical": b"\x10double(int32, pointer)",
    "void_empty": b"\x20void()",
    "void_void": b"\x20void(void)",
    "aliases": b"\x08 const char * ( int8_t ,uint64_t, size_t,unsigned , int )",
    "bad_type": b"\x3fint33(",
    "tiny_errbuf": b"\x01float(float,double,string,void*)",
    "fail_alloc": b"\x85\x03int64(int16, uint8, uint16, uint32)",
    "max_args": b"\x10void(" + b",".join([b"int"] * 32) + b")",
    "too_many": b"\x10void(" + b",".join([b"int"] * 33) + b")",
    "embedded_nul": b"\x10int(char*,\x00int)",
}

# fuzz_value: a control byte (top bit: fail the n-th allocation, n in the
# next two bytes), then opcodes: 0 void, 1 bool, 2 int, 3 double, 4 string,
# 5 C string, 6 bytes, 7 list, 8 map, 9 pointer, 10 object, 11 error,
# 12 dup, 13 compare, 14 pop, 15 check the top.
def ints():
    out = bytearray()
    for k in range(12):
        out += bytes([2, k << 1])
    out += bytes([2, 1]) + struct.pack(">q", -12345678901234)
    return bytes(out)


def doubles():
    out = bytearray()
    for k in range(16):
        out += bytes([3, k << 1, 13])
    out += bytes([3, 1]) + struct.pack(">d", 3.5)
    return bytes(out)


value_seeds = {
    "ints": b"\x00" + ints(),
    "doubles": b"\x00" + doubles(),
    "strings": b"\x00" + bytes([4, 5]) + b"a\x00b\xc3\xa9" + bytes([5, 4]) + b"ab\x00c"
    + bytes([6, 3]) + b"\xff\x00\x01" + bytes([4, 3]) + b"\xed\xa0\x80"
    + bytes([4, 4]) + b"\xf4\x90\x80\x80" + bytes([4, 2]) + b"\xc0\xaf",
    "nested": b"\x00" + bytes([2, 2, 1, 1, 0, 7, 3, 12, 7, 2, 12, 13, 15]),
    "map": b"\x00" + bytes([4, 1]) + b"k" + bytes([2, 2, 4, 1]) + b"j" + bytes([1, 0, 8, 2, 15]),
    "handles": b"\x00" + bytes([9, 10, 12, 7, 2, 14, 10]),
    "errors": b"\x00" + bytes([2, 0, 11, 0x20 | 3, 5]) + b"Oops!" + bytes([4]) + b"msg!"
    + bytes([11, 0x10, 0, 0, 7, 1]),
    "fail_alloc": b"\x80\x00\x03" + bytes([4, 3]) + b"abc" + bytes([2, 6, 7, 2, 9, 10, 11, 0, 0, 0]),
}


def write(name, seeds):
    folder = os.path.join(HERE, "corpus", name)
    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):
        os.remove(os.path.join(folder, old))
    for seed, data in seeds.items():
        with open(os.path.join(folder, seed), "wb") as f:
            f.write(data)


write("fuzz_ops", ops_seeds)
write("fuzz_signature", sig_seeds)
write("fuzz_value", value_seeds)
