"""One TOML file, parsed once into typed, validated sections and passed down.

``load_config(path)`` raises ``ConfigError`` whose message names every bad key by its path,
what was given and what is allowed — never a traceback.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_core import ErrorDetails

from edge.config.alarm import AlarmConfig
from edge.config.base import Section
from edge.config.clips import ClipsConfig
from edge.config.device import DeviceConfig
from edge.config.flame import FlameConfig
from edge.config.gas import GasConfig
from edge.config.model import ModelConfig
from edge.config.mqtt import MqttConfig, TlsConfig
from edge.config.sensors import LeptonConfig, Scd41Config, SensorsConfig
from edge.config.smoulder import SmoulderConfig
from edge.config.urls import is_secret_key, redact, redact_value
from edge.errors import ConfigError

__all__ = [
    "AlarmConfig",
    "ClipsConfig",
    "Config",
    "DeviceConfig",
    "FlameConfig",
    "GasConfig",
    "LeptonConfig",
    "ModelConfig",
    "MqttConfig",
    "Scd41Config",
    "SensorsConfig",
    "SmoulderConfig",
    "TlsConfig",
    "format_validation_error",
    "load_config",
    "parse_config",
]


class Config(Section):
    """The whole configuration."""

    device: DeviceConfig = Field(default_factory=DeviceConfig)
    sensors: SensorsConfig = SensorsConfig()
    model: ModelConfig = ModelConfig()
    alarm: AlarmConfig = AlarmConfig()
    flame: FlameConfig = FlameConfig()
    smoulder: SmoulderConfig = SmoulderConfig()
    gas: GasConfig = GasConfig()
    mqtt: MqttConfig = MqttConfig()
    clips: ClipsConfig = ClipsConfig()


def _allowed(err: ErrorDetails) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return "no such key here"
    if kind == "literal_error":
        return f"one of {ctx.get('expected', '?')}"
    bounds = {
        "greater_than": "> {gt}",
        "greater_than_equal": "≥ {ge}",
        "less_than": "< {lt}",
        "less_than_equal": "≤ {le}",
    }
    if kind in bounds:
        return bounds[kind].format(**ctx)
    if kind == "string_pattern_mismatch":
        return f"a string matching {ctx.get('pattern')}"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])  # our validators' own "what is allowed"
    if kind in _KINDS:
        return _KINDS[kind]
    return str(err["msg"])


#: pydantic's type errors in our words: what the key takes.
_KINDS = {
    "int_parsing": "a whole number (no quotes)",
    "int_type": "a whole number (no quotes)",
    "int_from_float": "a whole number (no fraction)",
    "float_parsing": "a number (no quotes)",
    "float_type": "a number (no quotes)",
    "bool_parsing": "true or false (no quotes)",
    "bool_type": "true or false (no quotes)",
    "string_type": 'a string in quotes, e.g. "text"',
    "dict_type": "a table of keys, e.g. [section] or {key = value}",
    "model_type": "a table of keys, e.g. [section] or {key = value}",
    "list_type": "a list, e.g. [1, 2]",
    "path_type": 'a file path in quotes, e.g. "/etc/firedetect/key.pem"',
    "finite_number": "a finite number (not inf or nan)",
    "missing": "a value (the key is required)",
    "string_too_short": "a longer string",
    "string_too_long": "a shorter string",
}


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem: ``source: key.path: given X; allowed: Y``.

    What was given is shown redacted: a URL's user info as ``***``, and nothing of the value
    of a secret-looking key (``password``, ``token`` ...): this text goes to the journal.
    """
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        path = ".".join(loc) or "(top level)"
        key = loc[-1] if loc else ""
        given = ("nothing" if err["type"] == "missing"
                 else repr(redact_value(err.get("input"), key)))
        if err["type"] == "extra_forbidden" and is_secret_key(key):
            lines.append(
                f"{source}: unknown key '{path}' (value not shown): a secret is never written "
                "in this file; set mqtt.username and put the password in the environment "
                "variable or systemd credential named by mqtt.password_env"
            )
        elif err["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key '{path}' (given {given}); check the spelling")
        else:
            lines.append(f"{source}: {path}: given {given}; allowed: {_allowed(err)}")
    return redact("\n".join(lines))


def parse_config(data: dict[str, Any], source: str = "<config>") -> Config:
    """Validate an already-parsed TOML document."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_config(path: Path | str | None) -> Config:
    """Load and validate the TOML file at ``path``; all defaults when ``path`` is None."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        # "utf-8-sig": a byte-order mark (Windows editors write one) is dropped, not a
        # syntax error at line 1, column 1.
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the config file: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return parse_config(data, str(p))
