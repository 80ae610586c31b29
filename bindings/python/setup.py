"""Builds xfutures for `pip install ./bindings/python` (offline, with Debian's
setuptools): the C core from ../../core and the SWIG interface compile into
the one extension xfutures._xfutures; the package is the same as the CMake
build's."""
import os
import pathlib
import subprocess

from setuptools import Extension, setup

here = pathlib.Path(__file__).resolve().parent
root = here.parent.parent
core = root / "core"
ffi_cflags = subprocess.run(["pkg-config", "--cflags", "libffi"], capture_output=True,
                            text=True).stdout.split()
ffi_libs = subprocess.run(["pkg-config", "--libs", "libffi"], capture_output=True,
                          text=True).stdout.split()

ext = Extension(
    "xfutures._xfutures",
    sources=[os.path.relpath(here / "xfutures.i", here)]
    + sorted(str(p) for p in (core / "src").glob("*.c")),
    include_dirs=[str(core / "include"), str(core / "src")],
    define_macros=[("_GNU_SOURCE", None)],
    swig_opts=["-builtin", "-fastproxy", "-I" + str(core / "include"), "-I" + str(here)],
    extra_compile_args=["-std=c11", "-fvisibility=hidden"] + ffi_cflags,
    extra_link_args=ffi_libs + ["-lpthread", "-lm"],
)

setup(
    name="xfutures",
    version="0.1.0",
    description="concurrent.futures- and asyncio-compatible futures over a C core",
    packages=["xfutures"],
    package_data={"xfutures": ["*.pyi", "py.typed"]},
    ext_modules=[ext],
    python_requires=">=3.9",
)
