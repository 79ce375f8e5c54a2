"""Streamed recordings: a ``.npz`` recording (docs/recording.md) read as it is consumed.

``open_recording`` reads and checks everything but the frames up front — every array but
``frames`` whole (they are small), and the ``frames`` member's .npy header (dtype, shape,
count against ``frame_t``) — so a recording that breaks a rule is refused before anything is
replayed. The frames are then read and decompressed ``CHUNK_FRAMES`` at a time as
``readings`` consumes them, by a reader thread that stays at most ``PREFETCH`` chunks ahead
(zlib releases the GIL, so decompression overlaps the pipeline on a second core). Memory
stays flat in the recording's length. A truncated or corrupt ``frames`` member raises the
same ``RecordingError`` as ``load_recording``, naming ``frames``, when the broken chunk is
reached — no frame of that chunk or after it is handed out. A corruption that only the
member's CRC-32 reveals is known only at its end.
"""

from __future__ import annotations

import io
import os
import queue
import threading
import zipfile
from collections.abc import Iterator
from types import TracebackType
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from edge.errors import RecordingError
from edge.recording import (
    Timeline,
    check_arrays,
    fail,
    open_npz,
    optional_arrays,
    read_member,
)

CHUNK_FRAMES = 32  # 1.2 MB of Lepton 3.x frames
PREFETCH = 2  # chunks the reader thread may hold ready


class RecordingStream(Timeline):
    """One open recording: the small arrays in memory, the frames streamed once.

    Use as a context manager (or call ``close``); ``frame_chunks`` may be iterated once."""

    def __init__(self, path: str | os.PathLike[str], prefetch: bool = True) -> None:
        self.source = str(path)
        self._prefetch = prefetch
        self._zf, members = open_npz(path, self.source)
        self._fp: io.BufferedIOBase | None = None
        self._stop = threading.Event()  # set by close: the reader thread gives up
        self._reader: threading.Thread | None = None
        try:
            small = {name: read_member(self._zf, member, name, self.source)
                     for name, member in members.items() if name != "frames"}
            self.frame_resolution_k, self.meta = optional_arrays(small, self.source)
            self._fp, dtype, shape, self._fortran = _open_frames(
                self._zf, members["frames"], self.source)
            # a zero-strided stand-in of the header's dtype and shape, for the same checks
            small["frames"] = np.broadcast_to(np.zeros((), dtype), shape)
            check_arrays(small, self.frame_resolution_k, self.source)
            small.pop("frames")
        except BaseException:
            self.close()
            raise
        self.frame_t: npt.NDArray[np.float64] = small["frame_t"]
        self.gas_t: npt.NDArray[np.float64] = small["gas_t"]
        self.co2_ppm: npt.NDArray[np.float32] = small["co2_ppm"]
        self.temperature_c: npt.NDArray[np.float32] = small["temperature_c"]
        self.humidity_pct: npt.NDArray[np.float32] = small["humidity_pct"]
        self.frame_shape: tuple[int, int] = (int(shape[1]), int(shape[2]))
        self._dtype = dtype
        self._used = False


    def frame_chunks(self) -> Iterator[npt.NDArray[np.uint16]]:
        """The frames, ``CHUNK_FRAMES`` at a time, each chunk a fresh writable array; then
        the member's end is checked (CRC-32, nothing after the array)."""
        if self._used or self._fp is None:
            raise RuntimeError(f"{self.source}: the frames of a streamed recording are read once")
        self._used = True
        chunks = self._read_chunks(self._fp)
        if not self._prefetch:
            return chunks
        self._reader, ready = _start_reader(chunks, self._stop)
        return _drain(ready, self._reader, self._stop)

    def _read_chunks(self, fp: io.BufferedIOBase) -> Iterator[npt.NDArray[np.uint16]]:
        n, h, w = (int(x) for x in self.frame_t.shape + self.frame_shape)
        try:
            if self._fortran:  # numpy writes these only for a Fortran-ordered array: read whole
                data = fp.read()
                if len(data) < n * h * w * 2:
                    raise fail(self.source, "frames", "is truncated or corrupt (ends early)")
                whole = np.frombuffer(data, self._dtype, n * h * w).reshape((n, h, w), order="F")
                for i in range(0, n, CHUNK_FRAMES):
                    yield np.ascontiguousarray(whole[i:i + CHUNK_FRAMES])
                if len(data) != n * h * w * 2:
                    raise fail(self.source, "frames", "has data after its array (corrupt .npy)")
                return
            i = 0
            while i < n:
                k = min(CHUNK_FRAMES, n - i)
                chunk = np.empty((k, h, w), self._dtype)
                got = fp.readinto(chunk.data.cast("B"))
                if got != chunk.nbytes:
                    raise fail(self.source, "frames", f"is truncated or corrupt (ends in frame "
                               f"{i + got // (h * w * 2)} of {n})")
                yield chunk
                i += k
            if fp.read(1):  # reaching the end makes zipfile check the CRC-32
                raise fail(self.source, "frames", "has data after its array (corrupt .npy)")
        except RecordingError:
            raise
        except Exception as exc:  # a corrupt archive makes zipfile/zlib raise many types
            raise fail(self.source, "frames", f"is truncated or corrupt ({type(exc).__name__}: "
                       f"{exc})") from None

    def close(self) -> None:
        """Stop the reader thread (if any), then close the file."""
        self._stop.set()
        if self._reader is not None:
            self._reader.join()
            self._reader = None
        if self._fp is not None:
            self._fp.close()
            self._fp = None
        self._zf.close()

    def __enter__(self) -> RecordingStream:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def open_recording(path: str | os.PathLike[str], prefetch: bool = True) -> RecordingStream:
    """Open and check a recording for streaming; ``RecordingError`` names the array and the
    broken rule, as ``load_recording`` does."""
    return RecordingStream(path, prefetch=prefetch)


def _open_frames(zf: zipfile.ZipFile, member: str, source: str
                 ) -> tuple[io.BufferedIOBase, np.dtype[Any], tuple[int, ...], bool]:
    """The ``frames`` member opened just past its .npy header, with the header's dtype, shape
    and order."""
    fp: io.BufferedIOBase | None = None
    try:
        fp = cast(io.BufferedIOBase, zf.open(member))
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ValueError(f".npy format version {version} (1.0 or 2.0 expected)")
    except Exception as exc:
        if fp is not None:
            fp.close()
        if isinstance(exc, ValueError):
            raise fail(source, "frames", f"is not a readable .npy array ({exc})") from None
        raise fail(source, "frames", f"is truncated or corrupt ({type(exc).__name__}: "
                   f"{exc})") from None
    if dtype.hasobject:
        fp.close()
        raise fail(source, "frames", "holds pickled Python objects (refused: a recording "
                   "holds plain arrays only)")
    return fp, dtype, tuple(shape), bool(fortran)


_END = object()


def _start_reader(chunks: Iterator[npt.NDArray[np.uint16]], stop: threading.Event
                  ) -> tuple[threading.Thread, queue.Queue[Any]]:
    """A thread putting ``chunks`` into a queue at most ``PREFETCH`` ahead, then ``_END`` or
    the exception (a ``RecordingError``) that ended them; it gives up once ``stop`` is set."""
    ready: queue.Queue[Any] = queue.Queue(maxsize=PREFETCH)

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)
        finally:
            chunks.close()  # type: ignore[attr-defined]

    reader = threading.Thread(target=work, name="recording-frames", daemon=True)
    reader.start()
    return reader, ready


def _drain(ready: queue.Queue[Any], reader: threading.Thread, stop: threading.Event
           ) -> Iterator[npt.NDArray[np.uint16]]:
    """The reader's chunks in order; its error is raised here, after the chunks before it."""
    try:
        while True:
            try:
                item = ready.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set():  # closed from elsewhere: no more chunks will come
                    raise RuntimeError("the recording was closed while its frames were "
                                       "read") from None
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()
