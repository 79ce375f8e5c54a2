"""Configuration: typed, validated, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli import main
from edge.config import Config, load_config
from edge.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


class TestLoadConfig:
    def test_example_config_is_valid(self) -> None:
        """The shipped example config loads and equals its documented defaults."""
        cfg = load_config(ROOT / "config.example.toml")
        assert cfg.sensors.scd41.address == 0x62
        assert cfg.sensors.lepton.gain == "low"
        assert cfg.mqtt.url == "mqtt://localhost:1883"

    def test_no_file_means_defaults(self) -> None:
        """With no file every section takes its defaults."""
        assert load_config(None) == Config()

    def test_unknown_key_is_named(self, tmp_path: Path) -> None:
        """A misspelt key is reported by its full path."""
        f = tmp_path / "c.toml"
        f.write_text("[sensors.scd41]\nadress = 98\n")
        with pytest.raises(ConfigError, match=r"unknown key 'sensors\.scd41\.adress'"):
            load_config(f)

    def test_out_of_range_names_given_and_allowed(self, tmp_path: Path) -> None:
        """An out-of-range value names the key, what was given and the bound."""
        f = tmp_path / "c.toml"
        f.write_text("[sensors.scd41]\naltitude_m = 5000\n")
        with pytest.raises(ConfigError) as exc:
            load_config(f)
        msg = str(exc.value)
        assert "sensors.scd41.altitude_m" in msg
        assert "5000" in msg
        assert "≤ 3000" in msg

    def test_wrong_type(self, tmp_path: Path) -> None:
        """A wrong type names the key and the value given."""
        f = tmp_path / "c.toml"
        f.write_text('[mqtt]\nkeepalive_s = "soon"\n')
        with pytest.raises(ConfigError, match=r"mqtt\.keepalive_s: given 'soon'"):
            load_config(f)

    def test_bad_literal_lists_choices(self, tmp_path: Path) -> None:
        """A value outside a fixed set lists the allowed ones."""
        f = tmp_path / "c.toml"
        f.write_text('[sensors.lepton]\ngain = "medium"\n')
        with pytest.raises(ConfigError, match=r"sensors\.lepton\.gain.*'high', 'low' or 'auto'"):
            load_config(f)

    def test_cross_field_rule(self, tmp_path: Path) -> None:
        """A clear threshold above the alarm threshold is refused."""
        f = tmp_path / "c.toml"
        f.write_text("[alarm]\nthreshold = 0.5\nclear_threshold = 0.7\n")
        with pytest.raises(ConfigError, match="clear_threshold"):
            load_config(f)

    def test_not_toml(self, tmp_path: Path) -> None:
        """A file that is not TOML says so, with the file name."""
        f = tmp_path / "c.toml"
        f.write_text("[mqtt\n")
        with pytest.raises(ConfigError, match="not valid TOML"):
            load_config(f)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is named."""
        with pytest.raises(ConfigError, match="no such config file"):
            load_config(tmp_path / "nope.toml")


class TestValidateConfigCommand:
    def test_ok(self, capsys: pytest.CaptureFixture[str]) -> None:
        """validate-config exits 0 on the example config."""
        assert main(["validate-config", str(ROOT / "config.example.toml")]) == 0
        assert "ok" in capsys.readouterr().out

    def test_bad(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """validate-config exits 2 and prints the problem, not a traceback."""
        f = tmp_path / "c.toml"
        f.write_text("[mqtt]\nurl = 'http://x'\n")
        assert main(["validate-config", str(f)]) == 2
        err = capsys.readouterr().err
        assert "mqtt.url" in err
        assert "Traceback" not in err

    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--version prints the package version."""
        with pytest.raises(SystemExit) as exc:
            main(["--version"])
        assert exc.value.code == 0
        assert capsys.readouterr().out.startswith("firedetect ")
