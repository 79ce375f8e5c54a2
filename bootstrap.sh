#!/usr/bin/env bash
# Set firedetect up on a fresh Debian / Raspberry Pi OS machine, then run something.
#
#   ./bootstrap.sh run    set up, then run the whole daemon in simulation (no hardware needed)
#   ./bootstrap.sh test   set up, then lint, type-check and run the whole test suite
#
# Installs what the project needs and nothing by hand: Debian's Mosquitto broker (tests start
# their own on a free loopback port; the system service is left stopped), a virtualenv in
# .venv with the project and its extras.
set -euo pipefail
cd "$(dirname "$0")"

case "${1:-}" in
    run|test) ;;
    *)
        echo "usage: $0 run|test [args...]" >&2
        exit 2
        ;;
esac

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
# Install only when something an install depends on changed since the last one: the
# project's pyproject.toml, the extras, the Python. The code itself is installed editable.
stamp=.venv/.bootstrap-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1) [$extras] $(.venv/bin/python -V 2>&1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[$extras]"
    printf '%s\n' "$want" > "$stamp"
fi

export PATH="$PWD/.venv/bin:$PATH"
case "${1:-}" in
    run)
        shift
        # The whole daemon on simulated sensors (the real drivers reading byte-level
        # simulators of a scenario), publishing to a Mosquitto started here on a free
        # loopback port and stopped on exit. Arguments go to `firedetect run`, e.g.
        #   ./bootstrap.sh run --simulate kitchen_grease_fire --seed 3 --speed 2
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        work=$(mktemp -d)
        printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" > "$work/mosquitto.conf"
        [ "$(id -u)" -ne 0 ] || echo "user root" >> "$work/mosquitto.conf"
        # The broker runs in its own session, so a Ctrl-C on the terminal does not reach it:
        # it is stopped on exit, after the daemon (which publishes `offline` as it stops).
        setsid "$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c "$work/mosquitto.conf" \
            > "$work/mosquitto.log" 2>&1 &
        broker_pid=$!
        trap 'kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
        # The demo: a flaming fire igniting at 216 s; start at 150 s, to skip most of the quiet.
        # Another scenario (--simulate NAME) keeps the demo's duration and speed unless given.
        scenario=(--simulate flaming_upholstery --seed 2 --start 150)
        duration=(--duration 150)
        speed=(--speed 2)
        config=(--config demo/config.toml)   # the demo model, see docs/evaluation.md
        for a in "$@"; do
            [ "$a" = --simulate ] && scenario=()
            [ "$a" = --duration ] && duration=()
            [ "$a" = --speed ] && speed=()
            [ "$a" = --config ] && config=()
        done
        echo "bootstrap: broker mqtt://127.0.0.1:$port; events are logged below (Ctrl-C stops)" >&2
        # The daemon runs in the background so that INT and TERM (Ctrl-C, `timeout`, `kill`)
        # reach this script, which passes them on and waits for the daemon to stop cleanly.
        firedetect -v run "${config[@]}" "${scenario[@]}" "${duration[@]}" "${speed[@]}" \
            --broker "mqtt://127.0.0.1:$port" --state-dir "$work/state" "$@" &
        daemon_pid=$!
        trap 'kill -TERM "$daemon_pid" 2>/dev/null || true' INT TERM
        while :; do
            wait "$daemon_pid" && status=0 || status=$?  # a trapped signal ends a wait early
            kill -0 "$daemon_pid" 2>/dev/null || break
        done
        exit "$status"
        ;;
    test)
        shift
        ruff check .
        lint-imports
        mypy
        exec python -m pytest "$@"
        ;;
esac
