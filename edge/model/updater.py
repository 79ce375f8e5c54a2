"""Keep the device's model up to date from S3 (or an S3-compatible store).

``ModelUpdater.poll_once()``: GET ``latest.json`` with ``IfNoneMatch`` = the last ETag (a 304
costs nothing) → download the named ``.tar.gz`` into a staging folder, checking its SHA-256
against ``latest.json`` → ``ModelHolder.install`` (verify, self-test, keep as last-known-good,
swap atomically). Any failure keeps the running model and is reported in the result.

Credentials come from boto3's standard chain; ``model.s3_endpoint_url`` selects another store.
A refused model's ``latest.json`` is remembered (its ETag), so it is not downloaded again
until the pointer changes; a failed download (network, missing object, wrong hash) or a disk
that cannot be written (full, read-only: ``ModelStorageError``) is retried at the next poll.

Downgrades (``edge.model.pointer``): a model older than the one in use is refused unless
``latest.json`` is signed, verifies and says ``rollback``; the refused version is kept in the
cache state and not downloaded again, also after a restart. A pointer whose signature does
not verify is refused and reported; an unsigned pointer still upgrades.

Channels (``[model] channel``, ``edge.model.channels``): the device follows
``channels/canary.json`` when it is in the canary's cohort (or ``channel = "canary"``), else
``channels/stable.json`` (``latest.json`` while no stable pointer exists). With ``[model]
shadow`` a device not in the cohort loads the canary's model, verified and self-tested the
same way, into its :class:`~edge.detect.shadow.ShadowScorer`. A model that fails its
self-test (installed or shadow) is recorded in ``failures`` for the health and the summary.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import logging
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.config import ModelConfig
from edge.errors import ModelDowngradeError, ModelError, ModelSelfTestError, ModelStorageError
from edge.model.channels import ChannelName, ChannelPointer, channel_rel, in_canary
from edge.model.channels import parse_channel_pointer as _parse_channel
from edge.model.holder import ModelHolder
from edge.model.pointer import (
    PointerFormatError,
    PointerSignatureError,
    model_time,
    parse_pointer,
)
from edge.model.verify import MAX_ARTIFACT_BYTES, load_public_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from edge.model.shadow_fetch import ShadowSink

__all__ = ["ModelUpdater", "PollOutcome", "PollResult"]

log = logging.getLogger(__name__)

_URL_RE = re.compile(r"^s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(.*))?$")


class PollOutcome(enum.Enum):
    """What one poll did."""

    UNCHANGED = "unchanged"  # 304, or latest names the model already running
    UPDATED = "updated"  # a new model is in use
    REFUSED = "refused"  # a model was downloaded but failed a check; the old one is kept
    FAILED = "failed"  # the store could not be read; the old model is kept


@dataclass(frozen=True, slots=True)
class PollResult:
    """The outcome of a poll, with a reason a person can act on."""

    outcome: PollOutcome
    reason: str
    version: str | None = None


class _FetchError(Exception):
    pass


def _error_code(exc: Exception) -> str:
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


class ModelUpdater:
    """Polls ``model.s3_url`` and installs new models into a ``ModelHolder``."""

    def __init__(
        self,
        config: ModelConfig,
        holder: ModelHolder,
        state_dir: Path,
        *,
        client: S3Client | None = None,
        interval_s: float | None = None,
        device_id: str | None = None,
        shadow: ShadowSink | None = None,
        after_poll: Callable[[], object] | None = None,
    ) -> None:
        if config.s3_url is None:
            raise ValueError("model.s3_url is not set: nothing to poll")
        m = _URL_RE.match(config.s3_url)
        if not m:
            raise ValueError(f"model.s3_url {config.s3_url!r}; allowed: s3://bucket/prefix/")
        self.bucket = m.group(1)
        self.prefix = (m.group(2) or "").strip("/")
        self.config = config
        self.holder = holder
        self.state_dir = Path(state_dir)
        self.interval_s = config.poll_interval_s if interval_s is None else interval_s
        if config.channel is not None and device_id is None:
            raise ValueError("model.channel is set: the updater needs the device id")
        self.device_id = device_id
        self.shadow = shadow
        self.after_poll = after_poll
        self._client = client
        self._etags: dict[str, str | None] = {}
        #: The canary pointer last read (None: none published, or refused).
        self.canary: ChannelPointer | None = None
        #: The channel whose pointer the last poll followed (None: latest.json).
        self.following: ChannelName | None = None
        #: Models that failed here: ``{"version", "kind", "reason", "at"}`` (newest last).
        self.failures: list[dict[str, Any]] = []
        self.shadow_failed: set[str] = set()  # shadow versions refused here
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.last_result: PollResult | None = None

    def _key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def _s3(self) -> S3Client:
        if self._client is None:
            import boto3
            from botocore.config import Config

            cfg = Config(
                connect_timeout=5, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"}
            )
            self._client = boto3.client(
                "s3", endpoint_url=self.config.s3_endpoint_url, config=cfg
            )
        return self._client

    # -- one poll -----------------------------------------------------------------------
    def poll_once(self) -> PollResult:
        """Check the pointer once and install a new model if there is one."""
        result = self._poll()
        if self.config.shadow and self.shadow is not None:
            from edge.model.shadow_fetch import update_shadow

            update_shadow(self, self.shadow)
        if self.after_poll is not None:
            self.after_poll()
        self.last_result = result
        level = logging.ERROR if result.outcome in (PollOutcome.REFUSED,) else logging.INFO
        if result.outcome is PollOutcome.FAILED:
            level = logging.WARNING
        log.log(level, "model poll: %s (%s)", result.outcome.value, result.reason)
        return result

    def _public_key(self) -> Any:
        return load_public_key(self.config.public_key) if self.config.public_key else None

    def _get(self, rel: str, slot: str = "follow") -> tuple[bytes | None, str | None]:
        """GET a pointer with the last ETag kept in ``slot``: ``(None, etag)`` when not
        modified. The canary pointer is read for the cohort (slot ``channel``) and, by its
        cohort, followed (slot ``follow``): each keeps its own ETag."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(rel)}
        tag = self._etags.get(f"{slot}:{rel}")
        if tag:
            kwargs["IfNoneMatch"] = tag
        try:
            resp = self._s3().get_object(**kwargs)
        except Exception as exc:
            if _error_code(exc) in ("304", "NotModified"):
                return None, tag
            raise
        return resp["Body"].read(64 * 1024), resp.get("ETag")

    def _read_canary(self) -> None:
        """Refresh ``self.canary``; a missing, unreadable or refused pointer means none."""
        from botocore.exceptions import BotoCoreError, ClientError

        rel = channel_rel("canary")
        where = f"s3://{self.bucket}/{self._key(rel)}"
        try:
            body, etag = self._get(rel, "channel")
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                self.canary = None
                self._etags.pop(f"channel:{rel}", None)
            else:
                log.warning("%s: %s; the last canary pointer read is kept", where, exc)
            return
        except (BotoCoreError, OSError) as exc:
            log.warning("%s: store unreachable: %s", where, exc)
            return
        if body is None:
            return
        self._etags[f"channel:{rel}"] = etag
        try:
            self.canary = _parse_channel(body, self._public_key(), "canary")
        except (PointerFormatError, PointerSignatureError, ModelError) as exc:
            self.canary = None
            self.holder.record_fault(f"{where}: {exc}; the stable channel is followed")

    def _choose(self) -> tuple[str, ChannelName | None]:
        """The pointer to follow: ``latest.json``, or this device's channel pointer."""
        if self.config.channel is None:
            return "latest.json", None
        self._read_canary()
        canary = self.canary
        if canary is not None and (self.config.channel == "canary" or (
                self.config.channel == "auto" and self.device_id is not None
                and in_canary(self.device_id, canary.percent))):
            return channel_rel("canary"), "canary"
        return channel_rel("stable"), "stable"

    def _poll(self) -> PollResult:
        from botocore.exceptions import BotoCoreError, ClientError

        rel_pointer, channel = self._choose()
        self.following = channel
        latest = self._key(rel_pointer)
        where = f"s3://{self.bucket}/{latest}"
        try:
            body, etag = self._get(rel_pointer)
        except ClientError as exc:
            code = _error_code(exc)
            if channel == "stable" and code in ("NoSuchKey", "404"):
                self.following = None  # no stable pointer published yet: latest.json
                rel_pointer, latest = "latest.json", self._key("latest.json")
                where = f"s3://{self.bucket}/{latest}"
                try:
                    body, etag = self._get(rel_pointer)
                except ClientError as exc2:
                    return PollResult(PollOutcome.FAILED, f"{where}: {_error_code(exc2) or exc2}")
                except (BotoCoreError, OSError) as exc2:
                    return PollResult(PollOutcome.FAILED, f"{where}: store unreachable: {exc2}")
            else:
                return PollResult(PollOutcome.FAILED, f"{where}: {code or exc}")
        except (BotoCoreError, OSError) as exc:
            return PollResult(PollOutcome.FAILED, f"{where}: store unreachable: {exc}")
        if body is None:
            return PollResult(PollOutcome.UNCHANGED, f"{where} not modified")
        try:
            key = self._public_key()
            pointer = (parse_pointer(body, key) if self.following is None
                       else _parse_channel(body, key, self.following).pointer)
        except (PointerFormatError, ModelError) as exc:
            return PollResult(PollOutcome.FAILED, f"{where}: {exc}")
        except PointerSignatureError as exc:
            self._etags[f"follow:{rel_pointer}"] = etag
            reason = f"{where}: {exc}"
            self.holder.record_fault(reason)
            return PollResult(PollOutcome.REFUSED, reason)
        version, rel, sha = pointer.version, pointer.key, pointer.sha256

        current = self.holder.model
        if current is not None and current.version == version:
            self._etags[f"follow:{rel_pointer}"] = etag
            return PollResult(PollOutcome.UNCHANGED, f"model {version} already in use", version)
        if self.holder.is_rejected(version):
            self._etags[f"follow:{rel_pointer}"] = etag
            return PollResult(PollOutcome.REFUSED, f"model {version} was rejected before", version)
        if pointer.rollback and current is not None:
            made = model_time(current.manifest, current.version)
            if made is not None and pointer.published is not None and pointer.published < made:
                self._etags[f"follow:{rel_pointer}"] = etag
                reason = (f"{where}: rollback to {version} was signed "
                          f"{pointer.published:%Y-%m-%dT%H:%M:%SZ}, before model "
                          f"{current.version} in use was made; a stale pointer, refused")
                self.holder.record_fault(reason)
                return PollResult(PollOutcome.REFUSED, reason, version)
        if not pointer.rollback and self.holder.is_refused(version):
            self._etags[f"follow:{rel_pointer}"] = etag
            return PollResult(PollOutcome.REFUSED, f"model {version} was refused before as "
                              "older than the model in use; not downloaded again", version)

        try:
            staging = Path(tempfile.mkdtemp(prefix=".staging-download-",
                                            dir=self._staging_root()))
        except OSError as exc:
            return self._storage_failed(exc, version)
        try:
            tarball = staging / f"{version}.tar.gz"
            try:
                self._download(self._key(rel), tarball, sha)
            except _FetchError as exc:
                return PollResult(PollOutcome.FAILED, str(exc), version)
            except ModelStorageError as exc:
                return self._storage_failed(exc, version)
            except ClientError as exc:
                code = _error_code(exc)
                reason = (
                    f"latest.json names s3://{self.bucket}/{self._key(rel)}, which does not exist"
                    if code in ("NoSuchKey", "404")
                    else f"s3://{self.bucket}/{self._key(rel)}: {code or exc}"
                )
                return PollResult(PollOutcome.FAILED, reason, version)
            except (BotoCoreError, OSError) as exc:
                return PollResult(PollOutcome.FAILED, f"download of {version} failed: {exc}",
                                  version)
            try:
                self.holder.install(tarball, expect_version=version,
                                    allow_older=pointer.rollback)
            except ModelDowngradeError as exc:
                self._etags[f"follow:{rel_pointer}"] = etag
                self.holder.mark_refused(version)
                return PollResult(PollOutcome.REFUSED, f"model {version} refused: {exc}", version)
            except ModelError as exc:
                self._etags[f"follow:{rel_pointer}"] = etag
                if isinstance(exc, ModelSelfTestError):
                    self.record_failure(version, "self_test", str(exc))
                return PollResult(PollOutcome.REFUSED, f"model {version} refused: {exc}", version)
            except OSError as exc:  # the cache cannot be written (disk full, read-only)
                return PollResult(
                    PollOutcome.FAILED, f"model {version} not installed: {exc}", version
                )
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._etags[f"follow:{rel_pointer}"] = etag
        how = " (signed rollback)" if pointer.rollback else ""
        return PollResult(PollOutcome.UPDATED, f"model {version} installed{how}", version)

    def record_failure(self, version: str, kind: str, reason: str) -> None:
        self.failures = [*self.failures[-19:], {
            "version": version, "kind": kind, "reason": reason[:300],
            "at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}]

    def _storage_failed(self, exc: OSError, version: str) -> PollResult:
        err = ModelStorageError.from_oserror(exc, self.state_dir / "models",
                                             f"download model {version}")
        reason = f"model {version} not downloaded, the model in use is kept: {err}"
        self.holder.record_fault(reason)
        return PollResult(PollOutcome.FAILED, reason, version)

    def _staging_root(self) -> Path:
        root = self.state_dir / "models"
        root.mkdir(parents=True, exist_ok=True)
        return root

    def _download(self, key: str, dest: Path, sha: str) -> None:
        body = self._s3().get_object(Bucket=self.bucket, Key=key)["Body"]
        h = hashlib.sha256()
        total = 0
        try:
            out = dest.open("xb")
        except OSError as exc:
            raise ModelStorageError.from_oserror(exc, dest.parent, "download the model") from None
        with out:
            while chunk := body.read(1 << 20):  # network errors: not the disk's
                total += len(chunk)
                if total > MAX_ARTIFACT_BYTES:
                    raise _FetchError(f"s3://{self.bucket}/{key}: larger than "
                                      f"{MAX_ARTIFACT_BYTES} bytes; refused")
                h.update(chunk)
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise ModelStorageError.from_oserror(exc, dest.parent,
                                                         "download the model") from None
            try:
                out.flush()
            except OSError as exc:
                raise ModelStorageError.from_oserror(exc, dest.parent,
                                                     "download the model") from None
        if h.hexdigest() != sha:
            raise _FetchError(
                f"s3://{self.bucket}/{key}: SHA-256 {h.hexdigest()[:12]}… does not match "
                f"latest.json's {sha[:12]}… (truncated or corrupted download)"
            )

    # -- background ---------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Poll every ``interval_s`` until ``stop`` is set (first poll immediately)."""
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:  # a bug in one poll must not end model updates for good
                log.exception("model poll crashed; retrying at the next interval")
            stop.wait(self.interval_s)

    def start(self) -> None:
        """Run ``run`` in a daemon thread."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("the model updater is already running")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run, args=(self._stop,), name="model-updater", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the thread started by ``start`` and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
