"""Fetch the canary's model for shadow scoring (``[model] shadow``).

After each poll the updater calls :func:`update_shadow`: when the canary pointer names a
version this device neither runs nor follows, the model is downloaded (its SHA-256 checked
against the pointer) and loaded exactly as an install would (signature, hashes, feature set,
golden self-test) but NOT installed: it goes into the
:class:`~edge.detect.shadow.ShadowScorer`. A shadow failing its self-test is recorded as a
model failure (health, summary) and not fetched again; a network or disk failure is retried
at the next poll. No canary, or the device on the canary, means no shadow.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from edge.errors import ModelError, ModelSelfTestError

if TYPE_CHECKING:
    from edge.model.runtime import Model
    from edge.model.updater import ModelUpdater

__all__ = ["ShadowSink", "update_shadow"]


class ShadowSink(Protocol):
    """What the updater needs of the shadow scorer (:class:`edge.detect.shadow.ShadowScorer`,
    which lives with detection: it runs a second alarm state machine)."""

    @property
    def version(self) -> str | None: ...

    def set_model(self, model: Model | None) -> None: ...

log = logging.getLogger(__name__)


def update_shadow(up: ModelUpdater, shadow: ShadowSink) -> None:
    """Load the canary's model into ``shadow`` when this device runs another one."""
    canary, current = up.canary, up.holder.model
    if (canary is None or up.following == "canary"
            or (current is not None and current.version == canary.pointer.version)):
        shadow.set_model(None)
        return
    version = canary.pointer.version
    if (shadow.version == version or version in up.shadow_failed
            or up.holder.is_rejected(version)):
        return
    try:
        staging = Path(tempfile.mkdtemp(prefix=".staging-shadow-", dir=up._staging_root()))
    except OSError as exc:
        log.warning("shadow model %s not downloaded: %s", version, exc)
        return
    try:
        tarball = staging / f"{version}.tar.gz"
        up._download(up._key(canary.pointer.key), tarball, canary.pointer.sha256)
        model = up.holder.load(tarball)
        if model.version != version:
            raise ModelError(f"the manifest is version {model.version!r}, the canary "
                             f"pointer names {version!r}")
    except ModelError as exc:
        up.shadow_failed.add(version)
        if isinstance(exc, ModelSelfTestError):
            up.record_failure(version, "self_test", str(exc))
        up.holder.record_fault(f"shadow model {version} refused: {exc}")
        return
    except Exception as exc:  # network or disk: retried at the next poll
        log.warning("shadow model %s not loaded: %s", version, exc)
        return
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    shadow.set_model(model)
