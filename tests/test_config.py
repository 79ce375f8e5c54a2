"""Configuration: typed, validated, errors that name the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import Config, load_config, parse_config
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


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """``firedetect ARGV`` as a user runs it, on this worktree's code."""
    return subprocess.run([sys.executable, "-m", "edge.cli", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def _write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "c.toml"
    f.write_text(text, encoding="utf-8")
    return f


class TestTopicNames:
    @pytest.mark.parametrize(("value", "rule"), [
        ("firedetect/#", "wildcard"),
        ("firedetect/+/kitchen", "wildcard"),
        ("#", "wildcard"),
        ("fire\\u0000detect", "control character"),
        ("fire\\tdetect", "control character"),
        ("firedetect/kitchen/", "empty level"),
        ("/firedetect", "empty level"),
        ("firedetect//kitchen", "empty level"),
        ("", "empty level"),
        ("$SYS/firedetect", "'$'"),
    ])
    def test_bad_base_topic_is_refused(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, rule: str
    ) -> None:
        """A base topic breaking an MQTT rule fails validate-config, naming key, value and rule."""
        f = _write(tmp_path, f'[mqtt]\nbase_topic = "{value}"\n')
        assert main(["validate-config", str(f)]) == 2
        err = capsys.readouterr().err
        assert "mqtt.base_topic: given" in err and "allowed: a topic prefix" in err
        assert rule in err

    def test_wildcard_base_topic_cli(self, tmp_path: Path) -> None:
        """`validate-config` on a file with base_topic "firedetect/#" exits 2 naming it."""
        f = _write(tmp_path, '[mqtt]\nbase_topic = "firedetect/#"\n')
        res = _cli("validate-config", str(f))
        assert res.returncode == 2, res.stdout
        assert "mqtt.base_topic: given 'firedetect/#'" in res.stderr
        assert "no MQTT wildcard ('+' or '#')" in res.stderr and "Traceback" not in res.stderr

    def test_too_long_topic_is_refused(self) -> None:
        """A base topic whose topics would pass 65535 UTF-8 bytes is refused, in bytes."""
        with pytest.raises(ConfigError, match=r"mqtt\.base_topic.*UTF-8 bytes"):
            parse_config({"mqtt": {"base_topic": "é" * 33000}})
        assert parse_config({"mqtt": {"base_topic": "é" * 30000}}).mqtt.base_topic

    def test_wildcard_discovery_prefix_is_refused(self) -> None:
        """The discovery prefix is a topic too: a wildcard in it is refused by key."""
        with pytest.raises(ConfigError, match=r"mqtt\.discovery_prefix: given 'homeassistant/#'"):
            parse_config({"mqtt": {"discovery_prefix": "homeassistant/#"}})

    @pytest.mark.parametrize("device_id", ["kitchen/1", "kitchen+1", "kitchen#", "a" * 65, ""])
    def test_device_id_is_one_level(self, device_id: str) -> None:
        """A device id that is not one plain topic level is refused, saying what is allowed."""
        with pytest.raises(ConfigError, match=r"device\.id: given .*allowed: a single topic level"):
            parse_config({"device": {"id": device_id}})

    def test_good_topics_pass(self) -> None:
        """Multi-level prefixes, spaces and non-ASCII are valid topic prefixes."""
        cfg = parse_config({"device": {"id": "kitchen-1"},
                            "mqtt": {"base_topic": "home/Küche fire/kitchen-1",
                                     "discovery_prefix": "ha/discovery"}})
        assert cfg.mqtt.base_topic == "home/Küche fire/kitchen-1"


SECRET = "Hunter2Secret"


class TestBrokerUrl:
    def test_password_in_url_never_shown_by_validate_config(self, tmp_path: Path) -> None:
        """A password in mqtt.url is refused by name, shown as ***, never in the output."""
        f = _write(tmp_path, f'[mqtt]\nurl = "mqtt://bob:{SECRET}@broker.lan:1883"\n')
        res = _cli("validate-config", str(f))
        assert res.returncode == 2
        assert SECRET not in res.stdout + res.stderr
        assert "mqtt.url: given 'mqtt://***@broker.lan:1883'" in res.stderr
        assert "mqtt.username" in res.stderr and "mqtt.password_env" in res.stderr

    def test_password_in_broker_option_never_shown_by_run(self, tmp_path: Path) -> None:
        """`run --broker mqtt://bob:PASS@host` exits 2 naming mqtt.url, the password hidden."""
        res = _cli("run", "--broker", f"mqtt://bob:{SECRET}@127.0.0.1", "--state-dir",
                   str(tmp_path / "state"), "--simulate", "static", "--duration", "1")
        assert res.returncode == 2
        assert SECRET not in res.stdout + res.stderr
        assert "mqtt.url: given 'mqtt://***@127.0.0.1'" in res.stderr

    @pytest.mark.parametrize("url", [f"mqtt://bob:{SECRET}@h", f"mqtt://bob:p@{SECRET}@h",
                                     f"mqtt://bob:{SECRET} x@h", f"mqtt://bob:{SECRET}/x@h"])
    def test_password_never_in_error_whatever_it_holds(self, url: str) -> None:
        """A password holding '@', a space or '/' is still hidden in the error."""
        with pytest.raises(ConfigError) as exc:
            parse_config({"mqtt": {"url": url}})
        assert SECRET not in str(exc.value) and "mqtt.url" in str(exc.value)

    def test_token_only_user_info_is_refused_not_dropped(self) -> None:
        """`mqtt://TOKEN@host` is refused (it used to be silently dropped), the token hidden."""
        with pytest.raises(ConfigError) as exc:
            parse_config({"mqtt": {"url": f"mqtts://{SECRET}@broker.lan"}})
        msg = str(exc.value)
        assert SECRET not in msg
        assert "mqtt.url: given 'mqtts://***@broker.lan'" in msg and "mqtt.username" in msg

    def test_secret_key_value_never_shown(self) -> None:
        """An unknown `password` key is refused without showing its value."""
        with pytest.raises(ConfigError) as exc:
            parse_config({"mqtt": {"password": SECRET}})
        assert SECRET not in str(exc.value) and "unknown key 'mqtt.password'" in str(exc.value)

    def test_credentials_in_s3_endpoint_refused_and_hidden(self) -> None:
        """User info in model.s3_endpoint_url is refused, hidden, pointing to the AWS chain."""
        with pytest.raises(ConfigError) as exc:
            parse_config({"model": {"s3_endpoint_url": f"http://key:{SECRET}@minio:9000"}})
        msg = str(exc.value)
        assert SECRET not in msg and "model.s3_endpoint_url" in msg and "AWS" in msg

    def test_username_not_in_repr(self) -> None:
        """The user name (a token for some brokers) stays out of the config's repr."""
        cfg = parse_config({"mqtt": {"username": SECRET}})
        assert cfg.mqtt.username == SECRET
        assert SECRET not in repr(cfg) and SECRET not in str(cfg)

    @pytest.mark.parametrize(("url", "problem"), [
        ("mqtt://127.0.0.1:99999", "1–65535"),
        ("mqtt://127.0.0.1:0", "1–65535"),
        ("mqtt://127.0.0.1:port", "1–65535"),
        ("mqtt://:1883", "host is missing"),
        ("mqtt://h:1883/topic", "nothing after the port"),
        ("mqtt://h ost", "no spaces"),
        ("http://h", "mqtt://host[:port]"),
    ])
    def test_bad_broker_url_names_key_given_allowed(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, problem: str
    ) -> None:
        """A broker URL that would fail at run time fails validate-config with key, value, rule."""
        assert main(["validate-config", str(_write(tmp_path, f'[mqtt]\nurl = "{url}"\n'))]) == 2
        err = capsys.readouterr().err
        assert f"mqtt.url: given {url!r}; allowed: mqtt://host[:port]" in err and problem in err

    @pytest.mark.parametrize(("url", "expected"), [
        ("mqtt://h", ("h", 1883, False)),
        ("mqtts://h:8884/", ("h", 8884, True)),
        ("mqtt://[::1]:1884", ("::1", 1884, False)),
    ])
    def test_good_broker_urls_pass(self, url: str, expected: tuple[str, int, bool]) -> None:
        """Host names, a trailing '/', and bracketed IPv6 are valid broker URLs."""
        from edge.mqtt.client import broker_address

        assert broker_address(parse_config({"mqtt": {"url": url}}).mqtt.url) == expected


class TestByteOrderMark:
    def test_bom_is_accepted(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A file saved with a UTF-8 byte-order mark loads as if it had none."""
        f = tmp_path / "c.toml"
        f.write_bytes(b"\xef\xbb\xbf" + b'[device]\nid = "bom-1"\n')
        assert load_config(f).device.id == "bom-1"
        assert main(["validate-config", str(f)]) == 0
        assert "ok" in capsys.readouterr().out


class TestNamedFiles:
    def test_missing_model_and_key_reported_by_validate_config(self, tmp_path: Path) -> None:
        """validate-config names a missing model.path and public_key, with what the daemon does."""
        f = _write(tmp_path, f'[model]\npath = "{tmp_path / "no-model.tar.gz"}"\n'
                             f'public_key = "{tmp_path / "no-key.pem"}"\n')
        res = _cli("validate-config", str(f))
        assert res.returncode == 2
        assert f"model.path: given '{tmp_path / 'no-model.tar.gz'}': no such file" in res.stderr
        assert "rule fallback" in res.stderr
        assert f"model.public_key: given '{tmp_path / 'no-key.pem'}': no such file" in res.stderr

    def test_missing_model_still_loads_and_starts_degraded(self, tmp_path: Path) -> None:
        """Loading does not check files: a daemon whose model file is gone starts, degraded."""
        from edge.app import build_daemon
        from edge.notify import Notifier

        cfg = load_config(_write(
            tmp_path, f'[device]\nid = "m1"\nstate_dir = "{tmp_path / "state"}"\n'
                      f'[model]\npath = "{tmp_path / "gone.tar.gz"}"\n'))
        rt = build_daemon(cfg, simulate="static", notifier=Notifier(""))
        try:
            assert rt.daemon.holder.status().degraded
        finally:
            rt.close()

    def test_public_key_not_a_key(self, tmp_path: Path) -> None:
        """A public_key file that is not a PEM key is named by validate-config."""
        key = tmp_path / "key.pem"
        key.write_text("not a key\n")
        res = _cli("validate-config", str(_write(tmp_path, f'[model]\npublic_key = "{key}"\n')))
        assert res.returncode == 2 and "model.public_key:" in res.stderr
        assert "not a PEM public key" in res.stderr

    def test_missing_tls_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """With TLS on, a missing CA file is named (the daemon would refuse to start)."""
        f = _write(tmp_path, f'[mqtt.tls]\nenabled = true\nca_file = "{tmp_path / "ca.pem"}"\n')
        assert main(["validate-config", str(f)]) == 2
        assert "mqtt.tls.ca_file: given" in capsys.readouterr().err


class TestWording:
    @pytest.mark.parametrize(("doc", "key", "allowed"), [
        ({"mqtt": {"keepalive_s": "abc"}}, "mqtt.keepalive_s", "a whole number (no quotes)"),
        ({"mqtt": {"telemetry_interval_s": "x"}}, "mqtt.telemetry_interval_s",
         "a number (no quotes)"),
        ({"device": {"id": 5}}, "device.id", 'a string in quotes, e.g. "text"'),
        ({"flame": {"enabled": [1]}}, "flame.enabled", "true or false (no quotes)"),
        ({"mqtt": 3}, "mqtt", "a table of keys"),
    ])
    def test_type_errors_say_what_the_key_takes(self, doc: dict[str, object], key: str,
                                                allowed: str) -> None:
        """A wrong type is told in our words (what the key takes), not pydantic's."""
        with pytest.raises(ConfigError) as info:
            parse_config(doc, "cfg.toml")
        text = str(info.value)
        assert f"cfg.toml: {key}: given " in text and f"allowed: {allowed}" in text
        assert "Input should be" not in text


def test_smoulder_slow_spreading_keys_refused_by_name() -> None:
    """The slow-spreading keys of ``[smoulder]`` refuse out-of-range values, naming each key,
    what was given and what is allowed."""
    with pytest.raises(ConfigError) as err:
        parse_config({"smoulder": {"slow_steps": -1, "slow_min_px": 0}})
    text = str(err.value)
    assert "smoulder.slow_steps: given -1; allowed: ≥ 0" in text
    assert "smoulder.slow_min_px: given 0; allowed: ≥ 1" in text
    for bad, allowed in ((0, "> 0"), (1.5, "≤ 1")):
        with pytest.raises(ConfigError) as err:
            parse_config({"smoulder": {"slow_keep": bad}})
        assert f"smoulder.slow_keep: given {bad}; allowed: {allowed}" in str(err.value)
    assert parse_config({"smoulder": {"slow_keep": 1}}).smoulder.slow_keep == 1.0


def test_smoulder_core_growth_refused_by_name() -> None:
    """``[smoulder] core_growth`` refuses a negative share and a non-number, naming the key,
    what was given and what is allowed; 0 (off) is allowed."""
    for bad, given, allowed in ((-0.5, "-0.5", "≥ 0"), ("twice", "'twice'", "a number")):
        with pytest.raises(ConfigError) as err:
            parse_config({"smoulder": {"core_growth": bad}})
        text = str(err.value)
        assert f"smoulder.core_growth: given {given}" in text and allowed in text, text
    assert parse_config({"smoulder": {"core_growth": 0}}).smoulder.core_growth == 0.0
