"""The project's exception classes.

Misuse of an API raises ``ValueError``/``TypeError``; conditions of the world (a sensor that
NACKs, a corrupt file, a tampered model) raise one of these, each naming the thing and what
was expected.
"""

from __future__ import annotations

import errno
from typing import ClassVar


class FiredetectError(Exception):
    """Base of every error firedetect raises on purpose."""


class ConfigError(FiredetectError):
    """The configuration file is missing, unreadable or invalid."""


class SensorError(FiredetectError):
    """A sensor could not be read."""

    def __init__(self, sensor: str, message: str) -> None:
        super().__init__(f"{sensor}: {message}")
        self.sensor = sensor


class BusError(SensorError):
    """The bus transaction failed: NACK, I/O error, short transfer."""


class CrcError(SensorError):
    """A checksum on the wire did not match."""


class SensorTimeout(SensorError):
    """The sensor did not produce data within the allowed time."""


class SensorGone(BusError):
    """The sensor no longer answers at all."""


class SyncError(SensorError):
    """A video stream lost synchronisation (VoSPI)."""


class SensorSetupError(SensorError):
    """The sensor cannot be opened here: missing device node, permission, library."""

    def __init__(self, sensor: str, message: str, hint: str) -> None:
        super().__init__(sensor, f"{message} — {hint}")
        self.hint = hint


class RecordingError(FiredetectError):
    """A recording file breaks the recording spec."""


class TrainingDataError(FiredetectError):
    """A training input file is corrupt or does not match the feature set."""


class ModelError(FiredetectError):
    """A model cannot be used."""


class ModelIntegrityError(ModelError):
    """A model's signature or a file's hash does not verify."""


class ModelCompatibilityError(ModelError):
    """A model was trained on a feature set this device does not compute."""


class ModelSelfTestError(ModelError):
    """A model's golden inputs did not give their expected scores."""


class ModelFetchError(ModelError):
    """A model could not be fetched from its store."""


class MqttError(FiredetectError):
    """The MQTT link failed in a way the caller must know about (bad credentials, TLS)."""


class OutboxError(FiredetectError):
    """The on-disk event outbox cannot be written."""


class ModelStorageError(FiredetectError, OSError):
    """The model store on this device cannot be written (disk full, read-only, permissions).

    An ``OSError`` on purpose: it is a fault of the device's storage, not of the model, so the
    updater retries at the next poll instead of remembering the model as refused.
    """

    _WHY: ClassVar[dict[int, str]] = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is used up",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EIO: "an I/O error (failing storage?)",
    }

    @classmethod
    def from_oserror(cls, exc: OSError, folder: object, doing: str) -> ModelStorageError:
        """Name the folder, what was being written and why it failed (ENOSPC, EROFS, ...)."""
        if isinstance(exc, ModelStorageError):
            return exc
        why = cls._WHY.get(exc.errno or 0, exc.strerror or str(exc))
        code = errno.errorcode.get(exc.errno or 0, "")
        err = cls(f"cannot {doing} in {folder}: {why}" + (f" ({code})" if code else ""))
        err.errno = exc.errno
        return err


class ModelDowngradeError(ModelError):
    """A model is older than the one in use and no signed pointer asked for a rollback."""
