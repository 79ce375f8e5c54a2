"""Recordings: every rule of the spec refused with one clear error; save/load round trip."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.errors import RecordingError
from edge.recording import Recording, load_recording, save_recording


def valid_arrays(n: int = 4, m: int = 3, shape: tuple[int, int] = (60, 80)) -> dict[str, Any]:
    """The arrays of a small valid recording, as the spec names them."""
    rng = np.random.default_rng(0)
    return {
        "frame_t": np.arange(n, dtype=np.float64) / 8.7,
        "frames": rng.integers(29000, 30000, (n, *shape)).astype(np.uint16),
        "frame_resolution_k": np.float64(0.01),
        "gas_t": np.arange(m, dtype=np.float64) * 5.0,
        "co2_ppm": np.linspace(420, 450, m).astype(np.float32),
        "temperature_c": np.linspace(21, 22, m).astype(np.float32),
        "humidity_pct": np.full(m, 40.0, dtype=np.float32),
        "meta": np.array(json.dumps({"scenario": "quiet", "fire_start_s": None})),
    }


def write(path: Path, **changes: Any) -> Path:
    """Write a recording with some arrays replaced (or removed, with None)."""
    arrays = valid_arrays()
    for name, value in changes.items():
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value
    np.savez_compressed(path, **arrays)
    return path


def valid_recording() -> Recording:
    a = valid_arrays()
    return Recording(
        frame_t=a["frame_t"],
        frames=a["frames"],
        gas_t=a["gas_t"],
        co2_ppm=a["co2_ppm"],
        temperature_c=a["temperature_c"],
        humidity_pct=a["humidity_pct"],
        frame_resolution_k=0.01,
        meta={"scenario": "kitchen_flaming", "fire_start_s": 120.0, "device": "pi-7"},
    )


# One broken rule per case: (changes, the array named, a phrase of the rule).
BROKEN: dict[str, tuple[dict[str, Any], str, str]] = {
    "frame_t dtype": ({"frame_t": np.arange(4, dtype=np.float32)}, "frame_t", "float64"),
    "frame_t shape": ({"frame_t": np.zeros((4, 1))}, "frame_t", "shape (N,)"),
    "frame_t decreasing": (
        {"frame_t": np.array([0.0, 0.2, 0.1, 0.3])}, "frame_t", "non-decreasing (index 2"
    ),
    "frame_t NaN": ({"frame_t": np.array([0.0, np.nan, 0.2, 0.3])}, "frame_t", "finite"),
    "gas_t inf": ({"gas_t": np.array([0.0, 5.0, np.inf])}, "gas_t", "finite"),
    "gas_t decreasing": ({"gas_t": np.array([0.0, 10.0, 5.0])}, "gas_t", "non-decreasing"),
    "frames dtype": (
        {"frames": np.zeros((4, 60, 80), dtype=np.float32)}, "frames", "must be uint16"
    ),
    "frames big-endian": (
        {"frames": np.zeros((4, 60, 80), dtype=">u2")}, "frames", "must be uint16"
    ),
    "frames ndim": ({"frames": np.zeros((4, 4800), dtype=np.uint16)}, "frames", "(N, H, W)"),
    "frames size": (
        {"frames": np.zeros((4, 100, 100), dtype=np.uint16)}, "frames", "120×160 or 60×80"
    ),
    "frames count": (
        {"frames": np.zeros((3, 60, 80), dtype=np.uint16)}, "frames", "has 3 frames but frame_t"
    ),
    "co2 length": ({"co2_ppm": np.zeros(2, dtype=np.float32)}, "co2_ppm", "shape (3,)"),
    "temperature dtype": (
        {"temperature_c": np.zeros(3, dtype=np.float64)}, "temperature_c", "float32"
    ),
    "humidity length": (
        {"humidity_pct": np.zeros(4, dtype=np.float32)}, "humidity_pct", "like gas_t"
    ),
    "resolution value": (
        {"frame_resolution_k": np.float64(0.05)}, "frame_resolution_k", "0.01 or 0.1"
    ),
    "resolution NaN": (
        {"frame_resolution_k": np.float64(np.nan)}, "frame_resolution_k", "0.01 or 0.1"
    ),
    "resolution dtype": (
        {"frame_resolution_k": np.float32(0.01)}, "frame_resolution_k", "float64 scalar"
    ),
    "resolution shape": (
        {"frame_resolution_k": np.array([0.01, 0.01])}, "frame_resolution_k", "scalar"
    ),
    "meta not JSON": ({"meta": np.array("{oops")}, "meta", "JSON object"),
    "meta not object": ({"meta": np.array("[1, 2]")}, "meta", "not list"),
    "meta number array": ({"meta": np.array(3)}, "meta", "0-d string"),
    "meta fire_start_s text": (
        {"meta": np.array('{"fire_start_s": "soon"}')}, "meta", "fire_start_s"
    ),
    "meta fire_start_s bool": (
        {"meta": np.array('{"fire_start_s": true}')}, "meta", "fire_start_s"
    ),
    "meta fire_start_s NaN": (
        {"meta": np.array('{"fire_start_s": NaN}')}, "meta", "fire_start_s"
    ),
    "meta deeply nested": ({"meta": np.array("[" * 100_000)}, "meta", "JSON object"),
    "extra array": ({"camera_serial": np.arange(3)}, "camera_serial", "not part of the"),
    "pickled object": (
        {"meta": np.array([{"x": 1}], dtype=object)}, "meta", "pickled Python objects"
    ),
}


class TestLoadRefusesBrokenRules:
    @pytest.mark.parametrize("case", sorted(BROKEN))
    def test_one_broken_rule(self, tmp_path: Path, case: str) -> None:
        """Each broken rule gives one RecordingError naming the file, the array and the rule."""
        changes, array, rule = BROKEN[case]
        path = write(tmp_path / "r.npz", **changes)
        with pytest.raises(RecordingError) as exc:
            load_recording(path)
        msg = str(exc.value)
        assert str(path) in msg
        assert f"array '{array}'" in msg
        assert rule in msg

    @pytest.mark.parametrize(
        "name", ["frame_t", "frames", "gas_t", "co2_ppm", "temperature_c", "humidity_pct"]
    )
    def test_missing_array(self, tmp_path: Path, name: str) -> None:
        """A missing required array is named."""
        path = write(tmp_path / "r.npz", **{name: None})
        with pytest.raises(RecordingError, match=rf"array '{name}': is missing"):
            load_recording(path)

    def test_truncated_file(self, tmp_path: Path) -> None:
        """A file cut short is refused as truncated or corrupt."""
        path = write(tmp_path / "r.npz")
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(RecordingError, match="truncated or corrupt"):
            load_recording(path)

    def test_not_a_zip(self, tmp_path: Path) -> None:
        """A text file is refused as not a .npz."""
        path = tmp_path / "r.npz"
        path.write_text("frame_t,frames\n1,2\n")
        with pytest.raises(RecordingError, match=r"not a \.npz recording"):
            load_recording(path)

    def test_random_bytes(self, tmp_path: Path) -> None:
        """Random bytes are refused."""
        path = tmp_path / "r.npz"
        path.write_bytes(np.random.default_rng(1).bytes(5000))
        with pytest.raises(RecordingError, match=r"not a \.npz"):
            load_recording(path)

    def test_single_npy_file(self, tmp_path: Path) -> None:
        """A lone .npy array (not an archive of arrays) is refused."""
        path = tmp_path / "r.npz"
        with path.open("wb") as fh:
            np.save(fh, np.zeros(3))
        with pytest.raises(RecordingError, match=r"not a \.npz"):
            load_recording(path)

    def test_member_not_npy(self, tmp_path: Path) -> None:
        """An archive entry that is not .npy data is named."""
        path = write(tmp_path / "r.npz")
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr("meta", "just text")
        with pytest.raises(RecordingError, match=r"array 'meta'"):
            load_recording(path)

    def test_flipped_byte_fails_crc(self, tmp_path: Path) -> None:
        """A changed byte inside stored frame data is caught by the zip's CRC-32."""
        arrays = valid_arrays()
        path = tmp_path / "r.npz"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            for name, a in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asanyarray(a), allow_pickle=False)
                zf.writestr(f"{name}.npy", buf.getvalue())
        assert load_recording(path).frames.shape == (4, 60, 80)
        data = bytearray(path.read_bytes())
        at = data.find(arrays["frames"].tobytes()[:64]) + 1000
        data[at] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(RecordingError, match=r"array 'frames': is truncated or corrupt"):
            load_recording(path)

    def test_no_such_file(self, tmp_path: Path) -> None:
        """A path that does not exist is named."""
        with pytest.raises(RecordingError, match="no such recording"):
            load_recording(tmp_path / "nope.npz")

    def test_directory(self, tmp_path: Path) -> None:
        """A directory is refused, not crashed on."""
        with pytest.raises(RecordingError, match="cannot be read"):
            load_recording(tmp_path)


class TestLoadValid:
    def test_optional_arrays_default(self, tmp_path: Path) -> None:
        """Without frame_resolution_k and meta: 0.01 K and an empty meta."""
        path = write(tmp_path / "r.npz", frame_resolution_k=None, meta=None)
        rec = load_recording(path)
        assert rec.frame_resolution_k == 0.01
        assert rec.meta == {}
        assert rec.fire_start_s is None

    def test_lepton3_decikelvin(self, tmp_path: Path) -> None:
        """A 120×160 recording in deci-kelvin loads."""
        a = valid_arrays(shape=(120, 160))
        path = tmp_path / "r.npz"
        np.savez_compressed(path, **{**a, "frame_resolution_k": np.float64(0.1)})
        rec = load_recording(path)
        assert rec.frames.shape == (4, 120, 160)
        assert rec.frame_resolution_k == 0.1

    def test_empty_streams(self, tmp_path: Path) -> None:
        """A recording with no frames and no readings is valid."""
        a = valid_arrays(n=0, m=0)
        path = tmp_path / "r.npz"
        np.savez_compressed(path, **a)
        rec = load_recording(path)
        assert rec.frame_t.size == 0
        assert rec.duration_s == 0.0


class TestSaveRecording:
    def test_round_trip(self, tmp_path: Path) -> None:
        """What is saved loads back equal, dtypes and meta included."""
        rec = valid_recording()
        path = save_recording(rec, tmp_path / "sub" / "r.npz")
        back = load_recording(path)
        for name in ("frame_t", "frames", "gas_t", "co2_ppm", "temperature_c", "humidity_pct"):
            np.testing.assert_array_equal(getattr(back, name), getattr(rec, name))
            assert getattr(back, name).dtype == getattr(rec, name).dtype
        assert back.meta == rec.meta
        assert back.fire_start_s == 120.0
        assert back.frame_resolution_k == 0.01

    def test_loads_with_numpy(self, tmp_path: Path) -> None:
        """A saved recording loads with numpy.load(allow_pickle=False), as the spec says."""
        path = save_recording(valid_recording(), tmp_path / "r.npz")
        with np.load(path, allow_pickle=False) as npz:
            assert set(npz.files) == set(valid_arrays())

    def test_refuses_overwrite(self, tmp_path: Path) -> None:
        """An existing file is never overwritten unless asked, and stays byte-identical."""
        path = tmp_path / "r.npz"
        path.write_bytes(b"precious")
        with pytest.raises(FileExistsError, match="refusing to overwrite"):
            save_recording(valid_recording(), path)
        assert path.read_bytes() == b"precious"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["r.npz"]

    def test_overwrite_when_asked(self, tmp_path: Path) -> None:
        """overwrite=True replaces the file."""
        path = tmp_path / "r.npz"
        path.write_bytes(b"old")
        save_recording(valid_recording(), path, overwrite=True)
        assert load_recording(path).frames.shape == (4, 60, 80)

    def test_refuses_invalid_recording(self, tmp_path: Path) -> None:
        """An invalid recording is refused before anything is written."""
        rec = valid_recording()
        rec.frame_t = rec.frame_t[::-1].copy()
        with pytest.raises(RecordingError, match="array 'frame_t'"):
            save_recording(rec, tmp_path / "r.npz")
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.parametrize(
        "meta", [{"fire_start_s": "soon"}, {"fire_start_s": True}, {"when": object()}]
    )
    def test_refuses_bad_meta(self, tmp_path: Path, meta: dict[str, Any]) -> None:
        """A meta that would not load back is refused before anything is written."""
        rec = valid_recording()
        rec.meta = meta
        with pytest.raises(RecordingError, match="array 'meta'"):
            save_recording(rec, tmp_path / "r.npz")
        assert list(tmp_path.iterdir()) == []

    def test_refuses_other_suffix(self, tmp_path: Path) -> None:
        """A file name not ending in .npz is a usage error."""
        with pytest.raises(ValueError, match=r"\.npz"):
            save_recording(valid_recording(), tmp_path / "r.npy")


# -- fuzzing ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def _load_or_refuse(path: Path) -> None:
    """Loading either refuses with RecordingError or gives a recording that passes its rules."""
    try:
        rec = load_recording(path)
    except RecordingError:
        return
    rec.validate()


FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class TestFuzz:
    @FUZZ
    @given(data=st.binary(max_size=4000))
    def test_random_bytes(self, fuzz_dir: Path, data: bytes) -> None:
        """Random bytes never raise anything but RecordingError."""
        path = fuzz_dir / "random.npz"
        path.write_bytes(data)
        _load_or_refuse(path)

    @FUZZ
    @given(data=st.binary(max_size=4000))
    def test_random_bytes_after_zip_magic(self, fuzz_dir: Path, data: bytes) -> None:
        """Random bytes behind a zip signature never raise anything but RecordingError."""
        path = fuzz_dir / "magic.npz"
        path.write_bytes(b"PK\x03\x04" + data)
        _load_or_refuse(path)

    @FUZZ
    @given(
        edits=st.lists(
            st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 255)),
            min_size=1,
            max_size=8,
        ),
        cut=st.one_of(st.none(), st.floats(0.0, 1.0)),
    )
    def test_mutated_valid_file(
        self, fuzz_dir: Path, edits: list[tuple[float, int]], cut: float | None
    ) -> None:
        """A valid file with bytes changed or cut off never raises anything but RecordingError."""
        src = fuzz_dir / "valid.npz"
        if not src.exists():
            write(src, frames=np.random.default_rng(2).integers(0, 9, (4, 60, 80)).astype(
                np.uint16
            ))
        data = bytearray(src.read_bytes())
        for where, value in edits:
            data[int(where * len(data))] = value
        if cut is not None:
            data = data[: int(cut * len(data))]
        path = fuzz_dir / "mutated.npz"
        path.write_bytes(bytes(data))
        _load_or_refuse(path)
