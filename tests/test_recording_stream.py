"""Streamed recordings (``edge.recording_stream``): the same readings as a whole load, checked
as strictly, broken frames named when reached, and memory flat in the recording's length."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import threading
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.commands.replay import replay
from edge.config import Config
from edge.detect.pipeline import build_pipeline
from edge.errors import RecordingError
from edge.model.holder import ModelHolder
from edge.recording import Recording, load_recording, readings, save_recording
from edge.recording_stream import CHUNK_FRAMES, open_recording
from edge.types import GasReading, ThermalFrame
from tests.test_replay import ROOM_RAW, synthetic


def burnout() -> Recording:
    """The synthetic fire, burnt out at 150 s: an alarm, then a clear."""
    rec = synthetic(duration_s=240.0, fire_at=40.0)
    rec.frames[rec.frame_t > 150.0] = ROOM_RAW
    rec.co2_ppm[rec.gas_t > 150.0] = 450.0
    return rec


def replay_text(rec: Recording | Path, prefetch: bool = True) -> str:
    """The replay output (rule fallback, defaults) of a recording in memory or streamed."""
    out = io.StringIO()
    pipeline = build_pipeline(Config(), ModelHolder(Config().model), start_t=0.0)
    if isinstance(rec, Path):
        with open_recording(rec, prefetch=prefetch) as stream:
            replay(stream, pipeline, out)
    else:
        replay(rec, pipeline, out)
    return out.getvalue()


def write_cut_frames(rec: Recording, path: Path, keep: int) -> Path:
    """``rec`` as a .npz whose ``frames`` member declares all frames but holds only ``keep``
    (a valid zip with good CRCs: the .npy inside is cut short)."""
    arrays = {"frame_t": rec.frame_t, "gas_t": rec.gas_t, "co2_ppm": rec.co2_ppm,
              "temperature_c": rec.temperature_c, "humidity_pct": rec.humidity_pct}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, a in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, a, allow_pickle=False)
            zf.writestr(f"{name}.npy", buf.getvalue())
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buf, {"descr": "<u2", "fortran_order": False, "shape": rec.frames.shape})
        buf.write(rec.frames[:keep].tobytes())
        zf.writestr("frames.npy", buf.getvalue())
    return path


def items_equal(a: ThermalFrame | GasReading, b: ThermalFrame | GasReading) -> bool:
    if isinstance(a, ThermalFrame) and isinstance(b, ThermalFrame):
        return (a.t, a.frame_id, a.resolution_k) == (b.t, b.frame_id, b.resolution_k) and \
            np.array_equal(a.pixels, b.pixels)
    return a == b


class TestSameAsWholeLoad:
    @pytest.mark.parametrize("prefetch", [True, False])
    def test_same_readings(self, tmp_path: Path, prefetch: bool) -> None:
        """Streaming gives exactly the readings of the whole load, across many chunks."""
        path = save_recording(synthetic(duration_s=100.0, gas_gap=(30.0, 50.0)),
                              tmp_path / "r.npz")
        whole = list(readings(load_recording(path)))
        with open_recording(path, prefetch=prefetch) as stream:
            streamed = list(readings(stream))
        assert len(whole) == len(streamed) > 5 * CHUNK_FRAMES
        assert all(items_equal(a, b) for a, b in zip(whole, streamed, strict=True))

    def test_same_replay_output(self, tmp_path: Path) -> None:
        """A streamed replay prints exactly the lines of a replay of the loaded recording."""
        path = save_recording(burnout(), tmp_path / "r.npz")
        want = replay_text(load_recording(path))
        assert [json.loads(ln)["event"] for ln in want.splitlines()] == ["alarm", "clear"]
        assert replay_text(path) == want
        assert replay_text(path, prefetch=False) == want

    def test_small_arrays_and_meta(self, tmp_path: Path) -> None:
        """The small arrays, resolution and meta are the whole load's."""
        path = save_recording(synthetic(duration_s=20.0), tmp_path / "r.npz")
        rec = load_recording(path)
        with open_recording(path) as stream:
            for name in ("frame_t", "gas_t", "co2_ppm", "temperature_c", "humidity_pct"):
                assert np.array_equal(getattr(stream, name), getattr(rec, name))
            assert (stream.frame_resolution_k, stream.meta, stream.frame_shape,
                    stream.duration_s) == (rec.frame_resolution_k, rec.meta, (120, 160),
                                           rec.duration_s)

    def test_empty_streams(self, tmp_path: Path) -> None:
        """A recording with no frames and no readings streams nothing."""
        rec = Recording(np.zeros(0), np.zeros((0, 60, 80), np.uint16), np.zeros(0),
                        *(np.zeros(0, np.float32) for _ in range(3)))
        path = save_recording(rec, tmp_path / "r.npz")
        with open_recording(path) as stream:
            assert list(readings(stream)) == []


class TestBrokenFrames:
    def test_cut_frames_named_when_reached(self, tmp_path: Path) -> None:
        """A frames member cut short is named when reached; every frame handed out before
        it is intact, and none after it."""
        rec = synthetic(duration_s=60.0, fire_at=None)
        path = write_cut_frames(rec, tmp_path / "cut.npz", keep=70)
        got: list[ThermalFrame] = []
        with open_recording(path) as stream, \
                pytest.raises(RecordingError, match=r"cut\.npz: array 'frames': is truncated "
                              r"or corrupt \(ends in frame 70 of 120\)"):
            for r in readings(stream):
                if isinstance(r, ThermalFrame):
                    got.append(r)
        assert len(got) == 70 // CHUNK_FRAMES * CHUNK_FRAMES
        assert all(np.array_equal(f.pixels, rec.frames[f.frame_id]) for f in got)

    def test_replay_prints_nothing_past_the_break(self, tmp_path: Path) -> None:
        """``firedetect replay`` of a recording cut before the burnout prints the alarm, not
        the clear, then names ``frames`` on stderr and exits 2."""
        rec = burnout()
        path = write_cut_frames(rec, tmp_path / "cut.npz", keep=int(np.searchsorted(
            rec.frame_t, 150.0)))
        res = subprocess.run([sys.executable, "-m", "edge.cli", "replay", str(path)],
                             capture_output=True, text=True, timeout=120, check=False)
        assert res.returncode == 2
        lines = [json.loads(ln) for ln in res.stdout.splitlines()]
        assert [ln["event"] for ln in lines] == ["alarm"]
        assert all(ln["t"] < 150.0 for ln in lines)
        assert f"{path}: array 'frames': is truncated or corrupt" in res.stderr
        assert "Traceback" not in res.stderr

    def test_flipped_stored_byte_fails_crc(self, tmp_path: Path) -> None:
        """A changed byte in stored (uncompressed) frames is caught by the CRC-32 at the end."""
        rec = synthetic(duration_s=20.0, fire_at=None)
        path = tmp_path / "r.npz"
        arrays = {"frame_t": rec.frame_t, "frames": rec.frames, "gas_t": rec.gas_t,
                  "co2_ppm": rec.co2_ppm, "temperature_c": rec.temperature_c,
                  "humidity_pct": rec.humidity_pct}
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            for name, a in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, a, allow_pickle=False)
                zf.writestr(f"{name}.npy", buf.getvalue())
        data = bytearray(path.read_bytes())
        data[data.find(rec.frames.tobytes()[:64]) + 5000] ^= 0x01
        path.write_bytes(bytes(data))
        with open_recording(path) as stream, \
                pytest.raises(RecordingError, match=r"array 'frames': is truncated or corrupt"):
            list(readings(stream))

    def test_broken_rule_refused_up_front(self, tmp_path: Path) -> None:
        """A frames header that breaks a rule (wrong count) is refused at open, naming frames."""
        rec = synthetic(duration_s=20.0, fire_at=None)
        np.savez_compressed(tmp_path / "r.npz", frame_t=rec.frame_t[:-1], frames=rec.frames,
                            gas_t=rec.gas_t, co2_ppm=rec.co2_ppm,
                            temperature_c=rec.temperature_c, humidity_pct=rec.humidity_pct)
        with pytest.raises(RecordingError, match=r"array 'frames': has 40 frames but frame_t "
                           r"has 39 times"):
            open_recording(tmp_path / "r.npz")

    def test_fortran_order_frames(self, tmp_path: Path) -> None:
        """Frames written in Fortran order (by another tool) still stream correctly."""
        rec = synthetic(duration_s=20.0)
        path = tmp_path / "f.npz"
        np.savez_compressed(path, frame_t=rec.frame_t, frames=np.asfortranarray(rec.frames),
                            gas_t=rec.gas_t, co2_ppm=rec.co2_ppm,
                            temperature_c=rec.temperature_c, humidity_pct=rec.humidity_pct)
        with open_recording(path) as stream:
            streamed = list(readings(stream))
        assert all(items_equal(a, b) for a, b in zip(readings(rec), streamed, strict=True))

    def test_abandoned_stream_stops_its_reader(self, tmp_path: Path) -> None:
        """Stopping early ends the reader thread and closes the file."""
        path = save_recording(synthetic(duration_s=60.0), tmp_path / "r.npz")
        with open_recording(path) as stream:
            it = readings(stream)
            for _ in range(5):
                next(it)
            it.close()
        assert not [t for t in threading.enumerate() if t.name == "recording-frames"]

    def test_closed_stream_stops_its_reader(self, tmp_path: Path) -> None:
        """Closing the recording while its readings are still held ends the reader thread."""
        path = save_recording(synthetic(duration_s=60.0), tmp_path / "r.npz")
        with open_recording(path) as stream:
            it = readings(stream)
            for _ in range(5):
                next(it)
        assert not [t for t in threading.enumerate() if t.name == "recording-frames"]
        with pytest.raises(RuntimeError, match="closed"):
            list(it)


def streamed_peak(path: Path) -> int:
    """tracemalloc's peak while streaming every reading of ``path``."""
    tracemalloc.start()
    try:
        with open_recording(path) as stream:
            for _ in readings(stream):
                pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_flat_in_length(tmp_path: Path) -> None:
    """Streaming memory peaks at a few chunks for 11.5 MB and for 115 MB of frames."""
    def write(n: int) -> Path:
        rng = np.random.default_rng(n)
        rec = Recording(np.arange(n) / 8.7, rng.integers(29000, 29100, (n, 120, 160), np.uint16),
                        np.zeros(0), *(np.zeros(0, np.float32) for _ in range(3)))
        return save_recording(rec, tmp_path / f"r{n}.npz")

    # a few chunks in flight (queue, reader, consumer), whatever the length: not 11.5/115 MB
    bound = 12 * CHUNK_FRAMES * 120 * 160 * 2
    assert streamed_peak(write(300)) < bound
    assert streamed_peak(write(3000)) < bound


# -- fuzzing ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 255)),
                      min_size=1, max_size=8),
       cut=st.one_of(st.none(), st.floats(0.0, 1.0)))
def test_mutated_file_streams_or_is_refused(fuzz_dir: Path, edits: list[tuple[float, int]],
                                            cut: float | None) -> None:
    """A valid file with bytes changed or cut off streams, or raises only RecordingError."""
    src = fuzz_dir / "valid.npz"
    if not src.exists():
        rec = synthetic(duration_s=20.0, rate_hz=4.0)
        save_recording(rec, src)
    data = bytearray(src.read_bytes())
    for where, value in edits:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    path = fuzz_dir / "mutated.npz"
    path.write_bytes(bytes(data))
    try:
        with open_recording(path) as stream:
            for _ in readings(stream):
                pass
    except RecordingError:
        pass


@pytest.mark.parametrize("mode", ["fused", "thermal_only", "co2_only"])
def test_heldout_suite_same_readings_streamed(tmp_path: Path, mode: str) -> None:
    """The held-out suite's readings of a streamed file equal those of the recording in memory."""
    from cloud.heldout.suite import readings as suite_readings

    rec = synthetic(duration_s=40.0)
    path = save_recording(rec, tmp_path / "r.npz")
    with open_recording(path) as stream:
        streamed = list(suite_readings(stream, mode))
    assert all(items_equal(a, b) for a, b in zip(suite_readings(rec, mode), streamed,
                                                   strict=True))
