#!/usr/bin/env bash
# Install firedetect as a systemd service on a Raspberry Pi (Raspberry Pi OS / Debian).
#
#   sudo systemd/install.sh            from a clone of the repository
#
# Creates the `firedetect` system user (groups i2c, spi, video), installs the project into
# /opt/firedetect/.venv with the [pi] extra, copies the unit to /etc/systemd/system and an
# example config to /etc/firedetect/config.toml (an existing config is never overwritten),
# then `systemctl daemon-reload && systemctl enable firedetect`.
# What is left: edit /etc/firedetect/config.toml, then `sudo systemctl start firedetect`.
#
# Environment: PREFIX (default /opt/firedetect), ETC (default /etc/firedetect),
# UNIT_DIR (default /etc/systemd/system), DRY_RUN=1 prints the commands instead.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="${PREFIX:-/opt/firedetect}"
ETC="${ETC:-/etc/firedetect}"
UNIT_DIR="${UNIT_DIR:-/etc/systemd/system}"
run() { if [ "${DRY_RUN:-0}" = 1 ]; then echo "+ $*"; else "$@"; fi; }

if [ "${DRY_RUN:-0}" != 1 ] && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (sudo $0)" >&2
    exit 1
fi

# Debian packages: Python's venv; the interfaces must be enabled in raspi-config.
command -v python3 >/dev/null || { echo "install.sh: python3 is missing" >&2; exit 1; }
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    run apt-get install -y --no-install-recommends python3-venv
fi
for g in i2c spi video; do
    getent group "$g" >/dev/null || run groupadd --system "$g"
done
if [ ! -e /dev/i2c-1 ]; then
    echo "install.sh: note: /dev/i2c-1 is missing — enable I2C: sudo raspi-config nonint do_i2c 0" >&2
fi
if [ ! -e /dev/spidev0.0 ]; then
    echo "install.sh: note: /dev/spidev0.0 is missing — enable SPI: sudo raspi-config nonint do_spi 0" >&2
fi

# The service user: no login, no home directory of its own.
if ! id firedetect >/dev/null 2>&1; then
    run useradd --system --user-group --home-dir /var/lib/firedetect --no-create-home \
        --shell /usr/sbin/nologin firedetect
fi
run usermod -a -G i2c,spi,video firedetect

# The software, in its own virtualenv, with the hardware extra.
run mkdir -p "$PREFIX"
[ -x "$PREFIX/.venv/bin/python" ] || run python3 -m venv "$PREFIX/.venv"
run "$PREFIX/.venv/bin/python" -m pip install -q --upgrade pip
run "$PREFIX/.venv/bin/python" -m pip install -q "$SRC[pi]"

# Config and credentials: root-owned, readable by the service's group only.
run install -d -m 0750 -o root -g firedetect "$ETC"
run install -d -m 0700 -o root -g root "$ETC/credentials"
if [ -e "$ETC/config.toml" ]; then
    echo "install.sh: keeping the existing $ETC/config.toml" >&2
else
    run install -m 0640 -o root -g firedetect "$SRC/config.example.toml" "$ETC/config.toml"
fi
# systemd refuses to start a unit whose LoadCredential= file is missing: empty = no password.
[ -e "$ETC/credentials/mqtt-password" ] || \
    run install -m 0600 -o root -g root /dev/null "$ETC/credentials/mqtt-password"
run "$PREFIX/.venv/bin/firedetect" validate-config "$ETC/config.toml"

sed "s#/opt/firedetect#$PREFIX#g; s#/etc/firedetect#$ETC#g" "$SRC/systemd/firedetect.service" \
    > "${TMPDIR:-/tmp}/firedetect.service"
run install -m 0644 "${TMPDIR:-/tmp}/firedetect.service" "$UNIT_DIR/firedetect.service"
rm -f "${TMPDIR:-/tmp}/firedetect.service"
run systemctl daemon-reload
run systemctl enable firedetect

cat >&2 <<MSG
install.sh: done.
  1. edit $ETC/config.toml (broker url, device id, model) and check it:
       $PREFIX/.venv/bin/firedetect validate-config $ETC/config.toml
  2. if the broker wants a password, put it (and nothing else) in
       $ETC/credentials/mqtt-password   (mode 0600, root)
  3. sudo systemctl start firedetect && journalctl -fu firedetect
MSG
