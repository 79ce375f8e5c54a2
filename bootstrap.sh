#!/usr/bin/env bash
# Set firedetect up on a fresh Debian / Raspberry Pi OS machine, then run something.
#
#   ./bootstrap.sh run    set up, then run the device in simulation (no hardware needed)
#   ./bootstrap.sh test   set up, then lint, type-check and run the whole test suite
#
# Installs what the project needs and nothing by hand: Debian's Mosquitto broker (tests start
# their own on a free loopback port; the system service is left stopped), a virtualenv in
# .venv with the project and its extras.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
if [ ${#need_apt[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "bootstrap: installing ${need_apt[*]} from Debian's packages" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

extras="dev,train"
if [ "$(uname -m)" = "aarch64" ] || [ "$(uname -m)" = "armv7l" ]; then
    [ -e /dev/i2c-1 ] || [ -e /dev/spidev0.0 ] && extras="$extras,pi"
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[$extras]"

export PATH="$PWD/.venv/bin:$PATH"
case "${1:-}" in
    run)
        shift
        exec firedetect sensors --simulate "$@"
        ;;
    test)
        shift
        ruff check .
        mypy
        exec python -m pytest "$@"
        ;;
    *)
        echo "usage: $0 run|test [args...]" >&2
        exit 2
        ;;
esac
