"""Model install on a full or read-only disk: a clear storage fault, the model in use stays.

Each test runs a small script as root in a private mount namespace (``unshare -m``) with the
state folder on a tiny tmpfs, so the disk really fills up or really turns read-only; it is
skipped where that is not allowed (not root, no ``unshare``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from cloud.artifact.s3 import upload_artifact
from tests.modelkit import Kit, kit
from tests.s3server import S3Bucket

__all__ = ["kit"]

ROOT = Path(__file__).resolve().parents[1]

_PRELUDE = textwrap.dedent('''
    import json, logging, subprocess, sys
    from pathlib import Path
    from edge.config import ModelConfig
    from edge.errors import ModelError, ModelStorageError
    from edge.model.holder import ModelHolder
    from edge.model.updater import ModelUpdater
    from tests.modelkit import clean_row

    args = json.loads(sys.argv[1])
    state = Path(args["state"])
    config = ModelConfig(public_key=Path(args["public_key"]), s3_url=args["s3_url"],
                         s3_endpoint_url=args["endpoint"])
    out = {}

    def running(holder):
        m = holder.model
        return [m.version if m else None, holder.score(clean_row()).model_version]

    def fill(path):
        with open(path, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\\0" * 4096)
            except OSError:
                pass
''')


def _run(script: str, tmp_path: Path, kit: Kit, bucket: S3Bucket) -> dict[str, Any]:
    """Run ``script`` in a private mount namespace with ``state`` on a 1 MiB tmpfs."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to mount a small tmpfs privately")
    state = tmp_path / "state"
    state.mkdir()
    code = tmp_path / "scenario.py"
    code.write_text(_PRELUDE + textwrap.dedent(script) + "\nprint(json.dumps(out))\n")
    args = json.dumps({"state": str(state), "public_key": str(kit.public_key),
                       "s3_url": bucket.url("models"), "endpoint": bucket.endpoint_url,
                       "a": str(kit.a.tarball), "b": str(kit.b.tarball)})
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"unshare -m not allowed here: {probe.stderr.decode().strip()}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    shell = 'mount -t tmpfs -o size=1m tmpfs "$1" && exec "$2" "$3" "$4"'
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", shell, "sh", str(state), sys.executable, str(code), args],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


class TestFullDisk:
    def test_full_disk_is_named_and_the_model_stays(
        self, kit: Kit, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        """Installing on a full disk says the disk is full (naming the folder), not that the
        archive is unreadable; the running model stays, and the update succeeds once there
        is room."""
        upload_artifact(kit.b.tarball, s3_bucket.url("models"),
                        endpoint_url=s3_bucket.endpoint_url)
        out = _run('''
            holder = ModelHolder(config, state)
            holder.install(Path(args["a"]))
            fill(state / "filler")
            try:
                holder.install(Path(args["b"]))
                out["install"] = "installed"
            except ModelStorageError as exc:
                out["install"] = "storage: " + str(exc)
            except ModelError as exc:
                out["install"] = "model: " + str(exc)
            out["after_install"] = running(holder)
            updater = ModelUpdater(config, holder, state)
            r = updater.poll_once()
            out["poll_full"] = [r.outcome.value, r.reason]
            out["after_poll"] = running(holder)
            out["last_error"] = holder.last_error
            (state / "filler").unlink()
            r = updater.poll_once()
            out["poll_room"] = [r.outcome.value, r.reason]
            out["after_room"] = running(holder)
        ''', tmp_path, kit, s3_bucket)
        state = str(tmp_path / "state")
        assert out["install"].startswith("storage: ") and "disk is full" in out["install"]
        assert state in out["install"] and "not a readable" not in out["install"]
        assert out["after_install"] == ["model-a", "model-a"]
        assert out["poll_full"][0] == "failed" and "disk is full" in out["poll_full"][1]
        assert out["after_poll"] == ["model-a", "model-a"]
        assert "disk is full" in out["last_error"]
        assert out["poll_room"][0] == "updated"  # a disk fault is retried, not remembered
        assert out["after_room"] == ["model-b", "model-b"]


class TestReadOnlyDisk:
    def test_read_only_state_fails_soft_and_the_model_stays(
        self, kit: Kit, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        """With the state folder read-only, a restart still loads the cached model and a
        poll fails with 'read-only' instead of crashing; the model in use stays."""
        upload_artifact(kit.b.tarball, s3_bucket.url("models"),
                        endpoint_url=s3_bucket.endpoint_url)
        out = _run('''
            ModelHolder(config, state).install(Path(args["a"]))
            subprocess.run(["mount", "-o", "remount,ro", str(state)], check=True)
            holder = ModelHolder(config, state)
            holder.load_initial()
            out["start"] = running(holder)
            updater = ModelUpdater(config, holder, state)
            try:
                r = updater.poll_once()
                out["poll"] = [r.outcome.value, r.reason]
            except Exception as exc:
                out["poll"] = ["crashed", repr(exc)]
            out["after_poll"] = running(holder)
            try:
                holder.install(Path(args["b"]))
                out["install"] = "installed"
            except ModelStorageError as exc:
                out["install"] = "storage: " + str(exc)
            except Exception as exc:
                out["install"] = "other: " + repr(exc)
            out["after_install"] = running(holder)
        ''', tmp_path, kit, s3_bucket)
        assert out["start"] == ["model-a", "model-a"]
        assert out["poll"][0] == "failed" and "read-only" in out["poll"][1], out["poll"]
        assert out["after_poll"] == ["model-a", "model-a"]
        assert out["install"].startswith("storage: ") and "read-only" in out["install"]
        assert out["after_install"] == ["model-a", "model-a"]
