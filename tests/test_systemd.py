"""The systemd unit verifies, its hardening suits our libraries, and install.sh does its steps."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "firedetect.service"
INSTALL = ROOT / "systemd" / "install.sh"
VENV_FIREDETECT = Path(sys.executable).parent / "firedetect"


def unit_settings() -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit, in order (keys may repeat)."""
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key, []).append(value)
    return out


class TestUnitFile:
    @pytest.mark.skipif(
        shutil.which("systemd-analyze") is None,
        reason="systemd-analyze is absent (bootstrap.sh installs the systemd package)",
    )
    def test_systemd_analyze_verify_is_clean(self, tmp_path: Path) -> None:
        """`systemd-analyze verify` accepts the unit without a single warning."""
        assert VENV_FIREDETECT.exists(), "the venv's firedetect entry point is missing"
        text = UNIT.read_text().replace(
            "/opt/firedetect/.venv/bin/firedetect", str(VENV_FIREDETECT)
        )
        copy = tmp_path / "firedetect.service"
        copy.write_text(text)
        res = subprocess.run(
            ["systemd-analyze", "verify", str(copy)],
            capture_output=True, text=True, timeout=60, check=False,
        )
        ours = [ln for ln in (res.stdout + res.stderr).splitlines() if "firedetect" in ln]
        assert res.returncode == 0, res.stderr
        assert ours == []

    def test_verify_catches_a_broken_unit(self, tmp_path: Path) -> None:
        """The verify check can fail: a misspelt directive is reported."""
        if shutil.which("systemd-analyze") is None:
            pytest.skip("systemd-analyze is absent (bootstrap.sh installs the systemd package)")
        text = UNIT.read_text().replace(
            "/opt/firedetect/.venv/bin/firedetect", str(VENV_FIREDETECT)
        ).replace("WatchdogSec=30", "WatchdogSecs=30")
        copy = tmp_path / "firedetect.service"
        copy.write_text(text)
        res = subprocess.run(
            ["systemd-analyze", "verify", str(copy)],
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert "WatchdogSecs" in res.stderr

    def test_supervision_settings(self) -> None:
        """Type=notify with a watchdog, restarts on failure, and a bounded restart rate."""
        s = unit_settings()
        assert s["Type"] == ["notify"]
        assert s["NotifyAccess"] == ["main"]
        assert s["WatchdogSec"] == ["30"]
        assert s["Restart"] == ["on-failure"]
        assert s["RestartSec"] == ["5"]
        assert "StartLimitBurst" in s and "StartLimitIntervalSec" in s
        assert s["ExecStart"][0].split()[1:] == ["run", "--config", "/etc/firedetect/config.toml"]

    def test_only_sensor_devices_and_no_capabilities(self) -> None:
        """Device access is closed except I2C, SPI and V4L2; no capabilities at all."""
        s = unit_settings()
        assert s["DevicePolicy"] == ["closed"]
        assert sorted(s["DeviceAllow"]) == [
            "char-i2c rw", "char-spi rw", "char-video4linux rw",
        ]
        assert s["CapabilityBoundingSet"] == [""]
        assert s["User"] == ["firedetect"]
        assert s["SupplementaryGroups"] == ["i2c spi video"]
        assert "PrivateUsers" not in s

    def test_mdwe_compatible_with_inference(self, tmp_path: Path) -> None:
        """numpy, scikit-learn and onnxruntime score a model with write+exec memory refused."""
        pytest.importorskip("skl2onnx")
        import numpy as np
        from skl2onnx import to_onnx
        from sklearn.linear_model import LogisticRegression

        x = np.random.default_rng(0).random((40, 18)).astype(np.float32)
        model = LogisticRegression().fit(x, (x[:, 0] > 0.5).astype(int))
        onnx_path = tmp_path / "m.onnx"
        onnx_path.write_bytes(to_onnx(model, x[:1], options={"zipmap": False}).SerializeToString())
        # PR_SET_MDWE (65) with PR_MDWE_REFUSE_EXEC_GAIN: the kernel's version of systemd's
        # MemoryDenyWriteExecute=, set before any of the libraries is loaded.
        code = f"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    sys.exit(77)
import numpy as np, scipy.ndimage, sklearn.ensemble, onnxruntime as ort, sqlite3
import paho.mqtt.client
sess = ort.InferenceSession({str(onnx_path)!r}, providers=["CPUExecutionProvider"])
out = sess.run(None, {{sess.get_inputs()[0].name: np.zeros((1, 18), np.float32)}})
print(float(out[1][0].sum()))
"""
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        if res.returncode == 77:
            pytest.skip("this kernel has no PR_SET_MDWE (Linux < 6.3)")
        assert res.returncode == 0, res.stderr
        assert abs(float(res.stdout) - 1.0) < 1e-5


class TestInstallScript:
    def test_dry_run_lists_every_step(self, tmp_path: Path) -> None:
        """A dry run creates the user with its groups, the venv with [pi], config and unit."""
        env = dict(os.environ, DRY_RUN="1", TMPDIR=str(tmp_path), PREFIX="/opt/fdtest",
                   ETC="/etc/fdtest", UNIT_DIR=str(tmp_path))
        res = subprocess.run(
            ["bash", str(INSTALL)], capture_output=True, text=True, env=env, timeout=60,
            check=False,
        )
        assert res.returncode == 0, res.stderr
        cmds = res.stdout
        assert "usermod -a -G i2c,spi,video firedetect" in cmds
        assert f"/opt/fdtest/.venv/bin/python -m pip install -q {ROOT}[pi]" in cmds
        assert "config.example.toml /etc/fdtest/config.toml" in cmds
        assert "/etc/fdtest/credentials/mqtt-password" in cmds
        assert f"firedetect.service {tmp_path}/firedetect.service" in cmds
        assert cmds.rstrip().splitlines()[-2:] == [
            "+ systemctl daemon-reload", "+ systemctl enable firedetect",
        ]
