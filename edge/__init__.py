"""firedetect's device side: drivers, simulators, features, model, alarm logic, MQTT."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("firedetect")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
