"""The scoring model on the device: load (verified), score, swap, keep last-known-good.

``load_model(path, public_key=..., allow_unsigned=...)`` accepts an artifact folder or its
``.tar.gz``; it verifies (``edge.model.verify``: signature → hashes → feature set), only then
deserialises the members (ONNX through onnxruntime, or the joblib members when onnxruntime
is missing) and runs the golden self-test. ``ModelHolder`` is what the daemon scores through.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.config import ModelConfig
from edge.errors import (
    ModelDowngradeError,
    ModelError,
    ModelIntegrityError,
    ModelStorageError,
)
from edge.model.cache import CacheState, ModelCache
from edge.model.pointer import downgrade_reason
from edge.model.rules import rule_score
from edge.model.runtime import Backend, Model, Score, open_ensemble
from edge.model.verify import extract_tarball, load_public_key, verify_artifact

__all__ = [
    "HolderStatus",
    "Model",
    "ModelHolder",
    "Score",
    "load_model",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


def _load_folder(
    folder: Path, public_key: Ed25519PublicKey | None, allow_unsigned: bool, backend: Backend
) -> Model:
    manifest = verify_artifact(folder, public_key=public_key, allow_unsigned=allow_unsigned)
    ensemble, used = open_ensemble(folder, manifest, backend)
    model = Model(
        version=manifest["version"],
        threshold=float(manifest["threshold"]),
        weights={n: float(e["weight"]) for n, e in manifest["members"].items()},
        ensemble=ensemble,
        backend=used,
        manifest=manifest,
    )
    try:
        golden = json.loads((folder / "golden.json").read_bytes())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{folder}: golden.json unreadable: {exc}") from None
    model.self_test(golden)
    return model


def load_model(
    path: Path,
    *,
    public_key: Ed25519PublicKey | None,
    allow_unsigned: bool = False,
    backend: Backend = "auto",
) -> Model:
    """Verify, deserialise and self-test the artifact at ``path`` (folder or ``.tar.gz``).

    :raises ModelIntegrityError: signature, hashes, unsafe archive.
    :raises ModelCompatibilityError: manifest format or feature set.
    :raises ModelSelfTestError: golden scores differ by more than 1e-5.
    :raises ModelError: a member cannot be deserialised.
    """
    path = Path(path)
    if path.is_dir():
        return _load_folder(path, public_key, allow_unsigned, backend)
    with tempfile.TemporaryDirectory(prefix="firedetect-model-") as tmp:
        folder = extract_tarball(path, Path(tmp), durable=False)  # read once, then deleted
        try:
            return _load_folder(folder, public_key, allow_unsigned, backend)
        except ModelError as exc:
            raise _naming(exc, folder, path) from None


def _naming(exc: ModelError, folder: Path, archive: Path) -> ModelError:
    """The same error naming the archive the user gave, not the folder it was unpacked to."""
    return type(exc)(str(exc).replace(str(folder), str(archive)))


@dataclass(frozen=True, slots=True)
class HolderStatus:
    """What a health report says about the model."""

    version: str | None
    previous_version: str | None
    degraded: bool
    last_error: str | None


class ModelHolder:
    """The model in use: thread-safe scoring, atomic swaps, last-known-good on disk, rollback.

    A frame is scored entirely by one model (the reference is read once per ``score``). With
    no model the rule fallback (``edge.model.rules``) scores, marked degraded. If the model raises
    while scoring, the holder rolls back to the previous model (memory, else the cache), marks
    the failed version rejected, records ``last_error`` and scores the frame again.
    """

    def __init__(
        self, config: ModelConfig, state_dir: Path | None = None, *, backend: Backend = "auto"
    ) -> None:
        self.config = config
        self.backend: Backend = backend
        self.cache = ModelCache(Path(state_dir) / "models") if state_dir is not None else None
        self._lock = threading.Lock()
        self._install_lock = threading.Lock()  # one install (cache + state file) at a time
        self._model: Model | None = None
        self._previous: Model | None = None
        self._last_error: str | None = None
        self._rejected: set[str] = set()
        #: Why the on-disk model cache cannot be written (read-only or full state directory):
        #: the model in memory keeps scoring; shown in the health. None when fine.
        self.cache_fault: str | None = None
        self._refused: set[str] = set()
        if self.cache is not None:
            state = self.cache.read_state()
            self._rejected.update(state.rejected)
            self._refused.update(state.refused)

    # -- state ------------------------------------------------------------------------
    @property
    def model(self) -> Model | None:
        """The model scoring now (None: rule fallback)."""
        return self._model

    @property
    def last_error(self) -> str | None:
        """The latest load, install or scoring failure, for health reports."""
        return self._last_error

    def status(self) -> HolderStatus:
        """A snapshot for the health topic."""
        m, prev = self._model, self._previous
        return HolderStatus(
            version=m.version if m else None,
            previous_version=prev.version if prev else None,
            degraded=m is None,
            last_error=self._last_error,
        )

    @property
    def rejected(self) -> frozenset[str]:
        """Versions that failed while scoring here (never installed again)."""
        return frozenset(self._rejected)

    def is_rejected(self, version: str) -> bool:
        """Whether this version failed here before (it is not installed again)."""
        return version in self._rejected

    def is_refused(self, version: str) -> bool:
        """Whether this version was refused here as older than the model in use."""
        return version in self._refused

    def mark_refused(self, version: str) -> None:
        """Remember a refused downgrade, across restarts when the cache can be written."""
        self._refused.add(version)
        if self.cache is None:
            return
        state = self.cache.read_state()
        if version not in state.refused:
            state.refused.append(version)
            try:
                self.cache.write_state(state)
            except OSError as exc:  # remembered in memory; the next start downloads it once
                log.warning("cannot save refused model %s in %s: %s", version, self.cache.root,
                            exc)

    def _fail(self, message: str) -> None:
        self._last_error = message
        log.error("%s", message)

    def record_fault(self, message: str) -> None:
        """Report a delivery fault (refused pointer, unwritable disk) as ``last_error``."""
        self._fail(message)

    # -- loading ----------------------------------------------------------------------
    def load(self, path: Path) -> Model:
        """``load_model`` with this device's public key and ``allow_unsigned``."""
        key = load_public_key(self.config.public_key) if self.config.public_key else None
        return load_model(
            path, public_key=key, allow_unsigned=self.config.allow_unsigned, backend=self.backend
        )

    def install(
        self, path: Path, *, expect_version: str | None = None, allow_older: bool = True
    ) -> Model:
        """Load ``path`` (verified, self-tested), keep it as last-known-good, swap it in.

        ``expect_version``: refuse a signed model whose manifest names another version (a
        pointer such as ``latest.json`` replaying an older artifact under a new name).
        ``allow_older=False``: refuse (``ModelDowngradeError``) a model older than the one in
        use (``edge.model.pointer.downgrade_reason``).
        On failure the running model is kept, ``last_error`` set, and the error raised.
        """
        with self._install_lock:
            return self._install(Path(path), expect_version, allow_older)

    def _install(self, path: Path, expect_version: str | None, allow_older: bool) -> Model:
        staging: Path | None = None
        try:
            try:
                folder = path
                if self.cache is not None and not path.is_dir():
                    staging = self._cache_write(self.cache.staging_dir, "stage the model")
                    folder = extract_tarball(path, staging)
                try:
                    model = self.load(folder)
                except ModelError as exc:
                    if folder == path:
                        raise
                    raise _naming(exc, folder, path) from None
                if expect_version is not None and model.version != expect_version:
                    raise ModelIntegrityError(
                        f"{path}: the manifest is version {model.version!r}, but "
                        f"{expect_version!r} was expected"
                    )
                current = self._model
                if not allow_older and current is not None:
                    why = downgrade_reason(model.manifest, model.version, current.manifest,
                                           current.version)
                    if why:
                        raise ModelDowngradeError(why)
                if self.cache is not None:
                    cache = self.cache
                    self._cache_write(lambda: cache.store(folder, model.version),
                                      f"keep model {model.version}")
            except ModelError as exc:
                self._fail(f"model {path} refused: {exc}")
                raise
            except ModelStorageError as exc:  # the device's disk, not the model: kept as is
                self._fail(f"model {path} not installed, the model in use is kept: {exc}")
                raise
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
        return self._swap_in(model)

    def _cache_write(self, action: Callable[[], _T], doing: str) -> _T:
        """Run a write into the cache; an OSError becomes a ModelStorageError naming it."""
        try:
            return action()
        except OSError as exc:
            raise ModelStorageError.from_oserror(exc, self.cache.root if self.cache else "?",
                                                 doing) from None

    def _swap_in(self, model: Model) -> Model:
        if self.cache is not None:  # state first: a state that cannot be saved swaps nothing
            state = self.cache.read_state()
            if state.current and state.current != model.version:
                state.previous = state.current
            state.current = model.version
            if state.previous == state.current:
                state.previous = None
            state.refused = [v for v in state.refused if v != model.version]
            cache = self.cache
            try:
                self._cache_write(lambda: cache.write_state(state), "save the model state")
            except ModelStorageError as exc:
                self._fail(f"model {model.version} not installed, the model in use is kept: "
                           f"{exc}")
                raise
            self.swap(model)
            self._refused.discard(model.version)
            self.cache.prune({v for v in (state.current, state.previous) if v})
        else:
            self.swap(model)
        log.info("model %s in use (%s backend)", model.version, model.backend)
        return model

    def swap(self, new: Model) -> Model | None:
        """Put ``new`` in use atomically (in memory only); return the model it replaced."""
        with self._lock:
            old = self._model
            self._model = new
            if old is not None and old.version != new.version:
                self._previous = old
        return old

    def load_initial(self) -> Model | None:
        """Start-up: the newer (manifest ``created``) of the cached current model and
        ``config.path``; else the cached previous one; else None (rule fallback)."""
        state = self.cache.read_state() if self.cache is not None else CacheState()
        if self.cache is not None:
            self.cache.clean_staging()
        candidates: list[tuple[str, Model]] = []
        if self.cache is not None and state.current:
            cached = self._try_load(self.cache.folder(state.current))
            if cached is not None:
                candidates.append(("cache", cached))
        if self.config.path is not None:
            configured = self._try_load(self.config.path)
            if configured is not None:
                candidates.append(("config", configured))
        if not candidates and self.cache is not None and state.previous:
            prev = self._try_load(self.cache.folder(state.previous))
            if prev is not None:
                candidates.append(("cache", prev))
        if not candidates:
            log.warning("no usable model: scoring with the rule fallback (degraded)")
            return None
        source, best = max(candidates, key=lambda c: (_created(c[1]), c[0] == "cache"))
        if source == "config" and self.cache is not None and self.config.path is not None:
            try:
                return self.install(self.config.path)
            except ModelError:
                pass  # already logged; fall through with the in-memory model
            except OSError as exc:  # a read-only or full state directory: detect without it
                self._cache_failed(exc)
        with self._lock:
            self._model = best
        log.info("model %s in use at start-up (from %s)", best.version, source)
        return best

    def _try_load(self, path: Path) -> Model | None:
        try:
            return self.load(path)
        except (ModelError, OSError) as exc:
            self._fail(f"model {path} not usable: {exc}")
            return None

    # -- scoring ----------------------------------------------------------------------
    def score(self, x: npt.ArrayLike) -> Score:
        """Score one feature vector (18,) with the model in use, or the rule fallback."""
        return self._scored(x, Model.score)

    def explain(self, x: npt.ArrayLike) -> Score:
        """:meth:`score`, with the features that moved it most (:meth:`Model.explain`; the
        rule fallback names its own): for an event, not every frame."""
        return self._scored(x, Model.explain)

    def _scored(self, x: npt.ArrayLike, how: Callable[[Model, npt.ArrayLike], Score]) -> Score:
        for _ in range(3):
            model = self._model
            if model is None:
                return rule_score(x)
            try:
                return how(model, x)
            except ValueError:
                raise  # the caller's vector is malformed: not the model's fault
            except Exception as exc:  # any failure of a model must not stop scoring
                self._rollback(model, exc)
        return rule_score(x)

    def _rollback(self, bad: Model, exc: BaseException) -> None:
        with self._lock:
            if self._model is not bad:
                return  # another thread already rolled back or swapped
            prev = self._previous
            if prev is None and self.cache is not None:
                state = self.cache.read_state()
                if state.previous and state.previous != bad.version:
                    prev = self._try_load(self.cache.folder(state.previous))
            self._model, self._previous = prev, None
            self._rejected.add(bad.version)
        self._fail(
            f"model {bad.version} failed while scoring ({type(exc).__name__}: {exc}); rolled "
            f"back to {prev.version if prev else 'the rule fallback'}"
        )
        if self.cache is not None:
            state = self.cache.read_state()
            state.current = prev.version if prev else None
            state.previous = None
            state.rejected = [*state.rejected, bad.version]
            try:
                self.cache.write_state(state)
            except OSError as exc:  # scoring goes on; the rollback holds in memory
                self._cache_failed(exc)
                self._fail(f"model {bad.version} rolled back, but {self.cache.root} cannot "
                           f"be written: {exc}")

    def _cache_failed(self, exc: OSError) -> None:
        self.cache_fault = f"model cache {self.cache.root if self.cache else '-'}: {exc}"
        log.error("%s; the model in memory keeps scoring, the cache is not updated",
                  self.cache_fault)


def _created(model: Model) -> str:
    created: Any = model.manifest.get("created", "")
    if isinstance(created, str):
        try:
            return dt.datetime.fromisoformat(created.replace("Z", "+00:00")).isoformat()
        except ValueError:
            return ""
    return ""
