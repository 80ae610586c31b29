"""fd readiness on the C loop embedded in asyncio: xfutures.asyncio.add_reader
and remove_reader, which are the core loop's."""
import asyncio
import os
import tempfile

import pytest

import xfutures
import xfutures.asyncio as xa


def test_reader_is_called_each_time_fd_is_readable_until_removed():
    async def main():
        r, w = os.pipe()
        got = []
        done = xa.Future()

        def on_readable(tag):
            got.append((tag, os.read(r, 64)))
            if len(got) == 1:
                os.write(w, b"two")  # readable again, after this call
            else:
                assert xa.remove_reader(r) is True
                done.set_result(None)

        xa.add_reader(r, on_readable, "tag")
        os.write(w, b"one")
        await done
        # Removed: the next run of the C loop (for the due sleep) polls the
        # fd, and the data waiting there reaches no reader any more.
        os.write(w, b"three")
        await xa.sleep(0)
        assert os.read(r, 64) == b"three"
        assert xa.remove_reader(r) is False
        os.close(r)
        os.close(w)
        return got

    assert asyncio.run(main()) == [("tag", b"one"), ("tag", b"two")]


def test_second_reader_replaces_the_first_and_objects_with_fileno_are_accepted():
    async def main():
        r, w = os.pipe()
        calls = []
        done = xa.Future()

        def second():
            calls.append("second")
            os.read(r, 64)
            xa.remove_reader(r)
            done.set_result(None)

        with open(r, "rb", buffering=0, closefd=False) as reader:
            xa.add_reader(reader, calls.append, "first")
            xa.add_reader(reader, second)
            os.write(w, b"x")
            await done
        os.close(r)
        os.close(w)
        return calls

    assert asyncio.run(main()) == ["second"]


def test_exception_of_a_reader_goes_to_the_loop_exception_handler():
    async def main():
        r, w = os.pipe()
        reports = []
        done = xa.Future()
        loop = asyncio.get_running_loop()

        def handler(loop, context):
            reports.append(context)
            if not done.done():
                done.set_result(None)

        loop.set_exception_handler(handler)

        def failing():
            os.read(r, 64)
            raise ValueError("reader failed")

        xa.add_reader(r, failing)
        os.write(w, b"x")
        await done
        assert xa.remove_reader(r) is True
        os.close(r)
        os.close(w)
        return reports

    reports = asyncio.run(main())
    assert len(reports) == 1
    assert "reader callback" in reports[0]["message"]
    assert isinstance(reports[0]["exception"], ValueError)


def test_bad_descriptors_are_refused_with_an_error():
    async def main():
        with pytest.raises(xfutures.Error, match="invalid argument"):
            xa.add_reader(-1, print)
        with pytest.raises(xfutures.Error, match="invalid argument"):
            xa.remove_reader(-1)
        with pytest.raises(TypeError):
            xa.add_reader("zero", print)
        with pytest.raises(TypeError):
            xa.add_reader(True, print)
        # The kernel cannot watch a regular file.
        with tempfile.TemporaryFile() as f:
            with pytest.raises(xfutures.Error):
                xa.add_reader(f, print)
            assert xa.remove_reader(f) is False

    asyncio.run(main())


def test_reader_needs_a_running_loop():
    with pytest.raises(RuntimeError):
        xa.add_reader(0, print)
    assert xfutures  # the package, imported for its side effects
