"""Keep the daemon's large buffers out of the C heap, so that freed memory goes back to the OS.

glibc serves allocations of 128 KiB and more with ``mmap`` and returns them with ``munmap``,
but it raises that threshold to the size of any such block that is freed (up to 32 MiB):
after the model load and the simulator's start-up free a few MiB-sized arrays, every frame's
150 KiB temporaries come from the heaps, which fragment and do not shrink. In the daemon with
the demo model in simulation that was 16 MiB of RSS (BENCHMARKS.md, "Memory with the demo
model"). ``pin_mmap_threshold`` fixes the threshold at 128 KiB (``mallopt(M_MMAP_THRESHOLD)``,
which also turns the raising off). The cost, an ``mmap``/``munmap`` pair per large temporary,
is nothing at 8.7 frames/s; ``firedetect replay`` does not pin it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable
from typing import Any, cast

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's default, before it starts raising it


def _glibc(function: str, argtypes: list[type[Any]]) -> Callable[..., int] | None:
    """glibc's ``function`` (int result), or None (and a debug line) on another C library."""
    name = ctypes.util.find_library("c")
    if name is None:
        log.debug("malloc: no C library found; no %s", function)
        return None
    try:
        fn = getattr(ctypes.CDLL(name), function)
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        log.debug("malloc: %s has no %s", name, function)
        return None
    fn.argtypes = argtypes
    fn.restype = ctypes.c_int
    return cast(Callable[..., int], fn)


def pin_mmap_threshold(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes; False (and a debug line) elsewhere.

    :raises ValueError: a threshold that is not a positive number of bytes.
    """
    if threshold <= 0:
        raise ValueError(f"mmap threshold must be > 0 bytes, got {threshold}")
    mallopt = _glibc("mallopt", [ctypes.c_int, ctypes.c_int])
    if mallopt is None:
        return False
    ok = bool(mallopt(M_MMAP_THRESHOLD, threshold))
    log.debug("malloc: mmap threshold pinned at %d B: %s", threshold, ok)
    return ok


def release_free_heap() -> bool:
    """Give the heap's free pages back to the OS (glibc's ``malloc_trim(0)``); False elsewhere.

    Loading a model frees the protobuf and the graph onnxruntime built it from (~12 MiB for the
    demo model), in chunks among live ones that ``free`` alone never returns; ``malloc_trim``
    also releases whole free pages inside the heap. It walks the arenas once (milliseconds on
    the daemon's heap), so the daemon calls it after start-up and after a model swap, not per
    frame.
    """
    trim = _glibc("malloc_trim", [ctypes.c_size_t])
    if trim is None:
        return False
    released = bool(trim(0))
    log.debug("malloc: heap trimmed (%s)", "pages released" if released else "nothing to release")
    return True
