"""Recordings: what one device's sensors saw, as a ``.npz`` file (docs/recording.md).

``load_recording`` checks every rule of the spec and refuses a broken file with one
``RecordingError`` naming the array and the rule. ``save_recording`` never overwrites.
``edge.recording_stream.open_recording`` reads the same files with ``frames`` streamed in
chunks; ``readings`` merges either kind into one time-ordered stream.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from edge.errors import RecordingError
from edge.types import GasReading, ThermalFrame

FRAME_SHAPES = {(120, 160): "Lepton 3.x", (60, 80): "Lepton 2.x"}
RESOLUTIONS_K = (0.01, 0.1)
_REQUIRED = ("frame_t", "frames", "gas_t", "co2_ppm", "temperature_c", "humidity_pct")
_OPTIONAL = ("frame_resolution_k", "meta")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first entry, or an empty zip


class Timeline:
    """What a recording says about its time span, loaded whole or streamed."""

    meta: dict[str, Any]
    frame_t: npt.NDArray[np.float64]
    gas_t: npt.NDArray[np.float64]

    @property
    def fire_start_s(self) -> float | None:
        v = self.meta.get("fire_start_s")
        return None if v is None else float(v)

    @property
    def duration_s(self) -> float:
        ends = [a[-1] for a in (self.frame_t, self.gas_t) if a.size]
        return float(max(ends)) if ends else 0.0


@dataclass
class Recording(Timeline):
    """One recording, in memory. Arrays follow the spec's dtypes and shapes."""

    frame_t: npt.NDArray[np.float64]
    frames: npt.NDArray[np.uint16]
    gas_t: npt.NDArray[np.float64]
    co2_ppm: npt.NDArray[np.float32]
    temperature_c: npt.NDArray[np.float32]
    humidity_pct: npt.NDArray[np.float32]
    frame_resolution_k: float = 0.01
    meta: dict[str, Any] = field(default_factory=dict)


    def frame_chunks(self) -> Iterator[npt.NDArray[np.uint16]]:
        """The frames in one chunk (they are already in memory)."""
        if self.frames.shape[0]:
            yield self.frames

    def validate(self, source: str = "recording") -> None:
        """Raise ``RecordingError`` if any rule of the spec is broken."""
        check_arrays(
            {
                "frame_t": self.frame_t,
                "frames": self.frames,
                "gas_t": self.gas_t,
                "co2_ppm": self.co2_ppm,
                "temperature_c": self.temperature_c,
                "humidity_pct": self.humidity_pct,
            },
            self.frame_resolution_k,
            source,
        )
        check_meta(self.meta, source)


def fail(source: str, array: str, rule: str) -> RecordingError:
    return RecordingError(f"{source}: array '{array}': {rule}")


def _check_time(source: str, name: str, a: np.ndarray) -> None:
    if a.dtype != np.float64 or a.ndim != 1:
        raise fail(source, name, f"must be float64 of shape (N,), is {a.dtype} {a.shape}")
    if a.size and not np.all(np.isfinite(a)):
        raise fail(source, name, "must hold finite seconds (found NaN or inf)")
    if a.size > 1 and np.any(np.diff(a) < 0):
        i = int(np.argmax(np.diff(a) < 0))
        raise fail(source, name, f"must be non-decreasing (index {i + 1} goes back in time)")


def check_frames(source: str, dtype: np.dtype[Any], shape: tuple[int, ...], times: int) -> None:
    """The ``frames`` rules that its dtype and shape decide (its .npy header is enough)."""
    if dtype != np.uint16 or len(shape) != 3:
        raise fail(source, "frames", f"must be uint16 of shape (N, H, W), is {dtype} {shape}")
    if tuple(shape[1:]) not in FRAME_SHAPES:
        raise fail(source, "frames", f"frame size must be 120×160 or 60×80, is "
                    f"{shape[1]}×{shape[2]}")
    if shape[0] != times:
        raise fail(source, "frames", f"has {shape[0]} frames but frame_t has {times} times")


def check_arrays(arrays: dict[str, Any], resolution_k: Any, source: str) -> None:
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray):
            raise fail(source, name, f"must be a numpy array, is {type(a).__name__}")
    _check_time(source, "frame_t", arrays["frame_t"])
    _check_time(source, "gas_t", arrays["gas_t"])
    frames = arrays["frames"]
    check_frames(source, frames.dtype, frames.shape, arrays["frame_t"].shape[0])
    m = arrays["gas_t"].shape[0]
    for name in ("co2_ppm", "temperature_c", "humidity_pct"):
        a = arrays[name]
        if a.dtype != np.float32 or a.shape != (m,):
            raise fail(source, name, f"must be float32 of shape ({m},) like gas_t, is "
                        f"{a.dtype} {a.shape}")
    if (
        not isinstance(resolution_k, int | float)
        or isinstance(resolution_k, bool)
        or not any(math.isclose(resolution_k, r) for r in RESOLUTIONS_K)
    ):
        raise fail(source, "frame_resolution_k", f"must be 0.01 or 0.1, is {resolution_k!r}")


def check_meta(meta: Any, source: str) -> None:
    if not isinstance(meta, dict):
        raise fail(source, "meta", f"must hold a JSON object, not {type(meta).__name__}")
    fs = meta.get("fire_start_s")
    if fs is not None and (
        isinstance(fs, bool) or not isinstance(fs, int | float) or not math.isfinite(fs)
    ):
        raise fail(source, "meta", f"fire_start_s must be a number or null, is {fs!r}")


def read_member(zf: zipfile.ZipFile, member: str, name: str, source: str) -> np.ndarray:
    """One array, read to the end of its zip entry so that its CRC-32 is checked."""
    try:
        with zf.open(member) as fp:
            a = np.lib.format.read_array(fp, allow_pickle=False)
            trailing = fp.read(1)  # reaching the end makes zipfile check the CRC-32
    except ValueError as exc:
        if "allow_pickle" in str(exc):  # object arrays need pickle, which we refuse
            raise fail(source, name, "holds pickled Python objects (refused: a recording "
                        "holds plain arrays only)") from None
        raise fail(source, name, f"is not a readable .npy array ({exc})") from None
    except Exception as exc:  # a corrupt archive makes zipfile/zlib/numpy raise many types
        raise fail(source, name, f"is truncated or corrupt ({type(exc).__name__}: "
                    f"{exc})") from None
    if trailing:
        raise fail(source, name, "has data after its array (corrupt .npy)")
    return a


def open_npz(path: str | os.PathLike[str], source: str) -> tuple[zipfile.ZipFile, dict[str, str]]:
    """The open archive and its members by array name, every required array present and no
    other; the caller closes the archive."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except FileNotFoundError:
        raise RecordingError(f"{source}: no such recording") from None
    except OSError as exc:
        raise RecordingError(f"{source}: cannot be read ({exc.strerror})") from None
    if magic not in _ZIP_MAGIC:
        raise RecordingError(f"{source}: not a .npz recording (a .npz file is a zip archive; "
                             "this file does not start like one)")
    try:
        zf = zipfile.ZipFile(path)
    except Exception as exc:  # a corrupt archive makes zipfile raise many types
        raise RecordingError(f"{source}: not a readable .npz recording, truncated or corrupt "
                             f"({type(exc).__name__}: {exc})") from None
    try:
        members: dict[str, str] = {}
        for member in zf.namelist():
            name = member.removesuffix(".npy")
            if name in members:
                raise fail(source, name, "appears twice in the archive")
            members[name] = member
        missing = [n for n in _REQUIRED if n not in members]
        if missing:
            raise fail(source, missing[0], "is missing (required by the recording spec)")
        extra = sorted(set(members) - set(_REQUIRED) - set(_OPTIONAL))
        if extra:
            raise fail(source, extra[0], "is not part of the recording spec")
    except BaseException:
        zf.close()
        raise
    return zf, members


def _read_npz(path: str | os.PathLike[str], source: str) -> dict[str, np.ndarray]:
    """The arrays of a ``.npz`` (what ``numpy.load`` would give, but every CRC checked)."""
    zf, members = open_npz(path, source)
    with zf:
        return {name: read_member(zf, member, name, source) for name, member in members.items()}


def optional_arrays(arrays: dict[str, np.ndarray], source: str) -> tuple[float, dict[str, Any]]:
    """Pop and check ``frame_resolution_k`` and ``meta``: the resolution and the meta object."""
    res = arrays.pop("frame_resolution_k", None)
    meta_arr = arrays.pop("meta", None)
    resolution = 0.01
    if res is not None:
        if res.shape != () or res.dtype != np.float64:
            raise fail(source, "frame_resolution_k", f"must be a float64 scalar, is "
                        f"{res.dtype} {res.shape}")
        resolution = float(res)
    meta: dict[str, Any] = {}
    if meta_arr is not None:
        if meta_arr.shape != () or meta_arr.dtype.kind != "U":
            raise fail(source, "meta", f"must be a 0-d string array, is {meta_arr.dtype} "
                        f"{meta_arr.shape}")
        try:
            meta = json.loads(str(meta_arr))
        except (json.JSONDecodeError, RecursionError) as exc:
            raise fail(source, "meta", f"must hold a JSON object ({exc})") from None
        check_meta(meta, source)
    return resolution, meta


def load_recording(path: str | os.PathLike[str]) -> Recording:
    """Load and check a recording; ``RecordingError`` names the array and the broken rule."""
    source = str(path)
    arrays = _read_npz(path, source)
    resolution, meta = optional_arrays(arrays, source)
    check_arrays(arrays, resolution, source)
    return Recording(
        frame_t=arrays["frame_t"],
        frames=arrays["frames"],
        gas_t=arrays["gas_t"],
        co2_ppm=arrays["co2_ppm"],
        temperature_c=arrays["temperature_c"],
        humidity_pct=arrays["humidity_pct"],
        frame_resolution_k=resolution,
        meta=meta,
    )


def save_recording(rec: Recording, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Write ``rec`` atomically; refuse to overwrite an existing file unless told to."""
    dest = Path(path)
    if dest.suffix != ".npz":
        raise ValueError(f"a recording file must end in .npz, not {dest.name!r}")
    if dest.exists() and not overwrite:
        raise FileExistsError(f"{dest}: exists; refusing to overwrite a recording")
    rec.validate(str(dest))
    try:
        meta_json = json.dumps(rec.meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise fail(str(dest), "meta", f"must be plain JSON ({exc})") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.stem}.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(
                fh,
                frame_t=rec.frame_t,
                frames=rec.frames,
                frame_resolution_k=np.float64(rec.frame_resolution_k),
                gas_t=rec.gas_t,
                co2_ppm=rec.co2_ppm,
                temperature_c=rec.temperature_c,
                humidity_pct=rec.humidity_pct,
                meta=np.array(meta_json),
            )
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, dest)
        else:
            _link_no_overwrite(tmp, dest)
        _fsync_dir(dest.parent)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def _link_no_overwrite(tmp: str, dest: Path) -> None:
    """Give ``tmp`` the name ``dest`` unless ``dest`` exists, atomically where possible."""
    try:
        os.link(tmp, dest)  # fails if dest exists, even if it appeared a moment ago
    except FileExistsError:
        raise FileExistsError(f"{dest}: appeared while writing; refusing to overwrite") from None
    except OSError:  # no hard links on this file system (e.g. FAT): check, then rename
        if dest.exists():
            raise FileExistsError(
                f"{dest}: appeared while writing; refusing to overwrite"
            ) from None
        os.replace(tmp, dest)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the file itself is synced
    finally:
        os.close(fd)


class FrameSource(Protocol):
    """What ``readings`` needs: the times and SCD41 arrays whole, the frames in chunks."""

    frame_t: npt.NDArray[np.float64]
    gas_t: npt.NDArray[np.float64]
    co2_ppm: npt.NDArray[np.float32]
    temperature_c: npt.NDArray[np.float32]
    humidity_pct: npt.NDArray[np.float32]
    frame_resolution_k: float

    def frame_chunks(self) -> Iterator[npt.NDArray[np.uint16]]: ...


def readings(rec: FrameSource) -> Iterator[ThermalFrame | GasReading]:
    """Frames and SCD41 readings merged in time order (a reading before a frame at equal t).

    A chunk of frames is fetched only when its first frame is due, so with a streamed
    recording a broken chunk raises its ``RecordingError`` before any reading after it."""
    ft: list[float] = rec.frame_t.tolist()
    gt: list[float] = rec.gas_t.tolist()
    co2: list[float] = rec.co2_ppm.tolist()
    temp: list[float] = rec.temperature_c.tolist()
    hum: list[float] = rec.humidity_pct.tolist()
    n, m = len(ft), len(gt)
    res = rec.frame_resolution_k
    chunks = rec.frame_chunks()
    chunk: npt.NDArray[np.uint16] | None = None
    base = 0  # index of chunk[0]
    j = 0
    for i in range(n):
        while j < m and gt[j] <= ft[i]:
            yield GasReading(gt[j], co2[j], temp[j], hum[j])
            j += 1
        if chunk is None or i - base >= chunk.shape[0]:
            if chunk is not None:
                base += chunk.shape[0]
            chunk = next(chunks, None)
            if chunk is None or chunk.shape[0] == 0:
                raise RuntimeError(f"the frame source ended at frame {i} of {n}")
        yield ThermalFrame(ft[i], chunk[i - base], res, frame_id=i)
    for _ in chunks:  # a streamed source checks its end (CRC-32, trailing bytes) here
        raise RuntimeError(f"the frame source holds more than {n} frames")
    while j < m:
        yield GasReading(gt[j], co2[j], temp[j], hum[j])
        j += 1
