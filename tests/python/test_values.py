"""The value policy, Python side (README, "The value policy").

Python's plain data reaches the core as the core's kinds, so that another
runtime reads it; everything else crosses as an opaque object. A read
through the future that was given the object returns the very object, as
concurrent.futures and asyncio do; a read of the core's value from
elsewhere (another handle on the same C future) gets the plain form.
xfutures.core_repr reports the kind and the canonical text the core holds.
"""
import asyncio
import math

import pytest

import xfutures
import xfutures.asyncio as xa

# (value, kind the core holds, its canonical text, what another reader gets)
ROWS = [
    (None, "void", "none", None),
    (True, "bool", "true", True),
    (False, "bool", "false", False),
    (0, "int", "0", 0),
    (-7, "int", "-7", -7),
    (2**53 + 1, "int", "9007199254740993", 2**53 + 1),
    (2**63 - 1, "int", "9223372036854775807", 2**63 - 1),
    (-2**63, "int", "-9223372036854775808", -2**63),
    (1.5, "double", "1.5", 1.5),
    (-0.0, "double", "-0.0", -0.0),
    (float("inf"), "double", "inf", float("inf")),
    (float("-inf"), "double", "-inf", float("-inf")),
    ("", "string", '""', ""),
    ("a\0b", "string", '"a\\u0000b"', "a\0b"),
    ("h\u00e9llo \u4e16\u754c", "string", '"h\u00e9llo \u4e16\u754c"', "h\u00e9llo \u4e16\u754c"),
    (b"", "bytes", 'b""', b""),
    (b"\x00\xff", "bytes", 'b"00ff"', b"\x00\xff"),
    ([], "list", "[]", []),
    ([1, "x", None], "list", '[1, "x", none]', [1, "x", None]),
    ((1, (2.0, b"")), "list", '[1, [2.0, b""]]', [1, [2.0, b""]]),
    ({}, "map", "{}", {}),
    ({"a": 1, 2: [True]}, "map", '{"a": 1, 2: [true]}', {"a": 1, 2: [True]}),
]


def other_reader(fut):
    """A second Python handle on the same C future: it has no cell, so it
    reads what the core holds, as another runtime would."""
    return xfutures.Future.from_handle(fut.handle())


@pytest.mark.parametrize("value,kind,text,plain", ROWS, ids=[repr(r[0]) for r in ROWS])
def test_plain_data_reaches_the_core_as_its_kind(value, kind, text, plain):
    f = xfutures.Future()
    f.set_result(value)
    assert xfutures.core_repr(f) == (kind, text)
    assert f.result() is value
    back = other_reader(f).result()
    assert type(back) is type(plain) and back == plain
    if isinstance(plain, float):
        assert math.copysign(1.0, back) == math.copysign(1.0, plain)


def test_nan_is_a_double():
    nan = float("nan")
    f = xfutures.Future()
    f.set_result(nan)
    assert xfutures.core_repr(f) == ("double", "nan")
    assert f.result() is nan
    assert math.isnan(other_reader(f).result())


def test_map_with_list_key_reads_back_as_a_tuple_key():
    # A map made elsewhere may have a list as a key; Python reads it back
    # with a tuple, as a dict needs a hashable key.
    f = xfutures.Future()
    f.set_result({(1, 2): "v"})
    assert xfutures.core_repr(f) == ("map", '{[1, 2]: "v"}')
    assert other_reader(f).result() == {(1, 2): "v"}


class Point:
    pass


@pytest.mark.parametrize("make", [
    lambda: print,
    lambda: Point(),
    lambda: 2**63,           # beyond int64: no core int
    lambda: -2**63 - 1,
    lambda: 10**30,
    lambda: "\udc80",        # a lone surrogate: no UTF-8 text
    lambda: bytearray(b"x"),  # mutable: not copied
    lambda: {1, 2},
], ids=["function", "instance", "2**63", "-2**63-1", "10**30", "surrogate", "bytearray",
        "set"])
def test_what_cannot_cross_is_an_object_that_comes_back_as_itself(make):
    obj = make()
    f = xfutures.Future()
    f.set_result(obj)
    assert xfutures.core_repr(f) == ("object", "object(python)")
    assert f.result() is obj
    assert other_reader(f).result() is obj


def test_an_object_inside_a_container_comes_back_as_itself():
    p = Point()
    f = xfutures.Future()
    f.set_result([1, p, {"k": p}])
    assert xfutures.core_repr(f) == ("list", '[1, object(python), {"k": object(python)}]')
    back = other_reader(f).result()
    assert back[1] is p and back[2]["k"] is p


def test_a_cyclic_list_crosses_as_an_object():
    a = [1]
    a.append(a)
    f = xfutures.Future()
    f.set_result(a)
    assert xfutures.core_repr(f) == ("object", "object(python)")
    assert other_reader(f).result() is a


def test_identity_of_containers_and_big_ints():
    for value in ([1, 2], {"a": [1]}, (1, 2), 10**30, 2**62, "text" * 10):
        f = xfutures.Future()
        f.set_result(value)
        assert f.result() is value


def test_identity_through_the_thread_pool(pool):
    values = [[1, 2], {"a": 1}, 2**62, "s" * 50, (1,)]
    futs = [pool.submit(lambda v=v: v) for v in values]
    for f, v in zip(futs, values):
        assert f.result() is v
        assert xfutures.core_repr(f)[0] in ("list", "map", "int", "string")
    assert list(pool.map(lambda v: v, values))[0] is values[0]


def test_a_refused_set_result_keeps_the_first_value():
    a, b = [1], [2]
    f = xfutures.Future()
    f.set_result(a)
    with pytest.raises(xfutures.InvalidStateError):
        f.set_result(b)
    assert f.result() is a


def test_error_outcome_is_an_error_kind():
    f = xfutures.Future()
    f.set_exception(KeyError("k"))
    assert xfutures.core_repr(f) == ("error", "error(KeyError: 'k')")


def test_core_repr_of_a_pending_future_is_invalid_state():
    with pytest.raises(xfutures.InvalidStateError):
        xfutures.core_repr(xfutures.Future())
    with pytest.raises(TypeError):
        xfutures.core_repr(object())


def test_asyncio_future_identity_and_kinds():
    async def main():
        loop = asyncio.get_running_loop()
        obj = {"a": [1, 2]}
        f = xa.Future(loop=loop)
        f.set_result(obj)
        assert xfutures.core_repr(f) == ("map", '{"a": [1, 2]}')
        assert f.result() is obj
        assert await f is obj
        g = xfutures.Future()
        g.set_result(obj)
        assert await g is obj
        h = xa.run_in_executor(None, lambda: obj)
        assert await h is obj
    asyncio.run(main())
