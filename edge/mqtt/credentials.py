"""Secrets for the broker: from the environment or a systemd credential, never from config.

``read_secret(name)`` looks for the environment variable ``name`` first, then for the file
``$CREDENTIALS_DIRECTORY/<name>`` (systemd ``LoadCredential=<name>:/path``). The value is
never logged; error messages name where it was looked for, not what was found.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

from edge.errors import ConfigError

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")


def read_secret(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The secret called ``name``, or None when neither source has it.

    :raises ValueError: ``name`` is not a valid variable/credential name.
    :raises ConfigError: the credential file exists but cannot be read.
    """
    if not _NAME.match(name):
        raise ValueError(
            f"secret name must match {_NAME.pattern} (an environment variable or systemd "
            f"credential name), got {name!r}"
        )
    env = os.environ if environ is None else environ
    value = env.get(name)
    if value:
        log.debug("secret %s: from the environment", name)
        return value
    directory = env.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    path = Path(directory) / name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the credential {name}: {exc}") from None
    log.debug("secret %s: from the systemd credential %s", name, path)
    return text.rstrip("\r\n")
