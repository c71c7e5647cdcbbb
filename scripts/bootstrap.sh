#!/usr/bin/env bash
# Set up what Turnero needs on a Debian machine, for one use:
#   scripts/bootstrap.sh demo   the Debian packages the sede needs at run time (voice: espeak-ng),
#                               a venv with Turnero and its runtime Python packages
#   scripts/bootstrap.sh test   the same, plus what the tests (and benchmarks) use: Chromium for
#                               Playwright, a PostgreSQL server, sox, and the [test] extra
# Without an argument: test. Debian packages are installed as root or with password-less sudo.
# Safe to run again: it skips what is already there, and then prints nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-test}
case "$MODE" in
  demo) DEBIAN_PACKAGES=(python3-venv espeak-ng libespeak-ng1); TARGET="." ;;
  test) DEBIAN_PACKAGES=(python3-venv espeak-ng libespeak-ng1 sox chromium postgresql); TARGET=".[test]" ;;
  *) echo "usage: $0 [demo|test]" >&2; exit 2 ;;
esac
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

# Run a command with its output kept aside; show it only if the command fails.
quietly() {
  local log status=0
  log=$(mktemp)
  "$@" >"$log" 2>&1 || status=$?
  if [ "$status" != 0 ]; then
    cat "$log" >&2
    echo "bootstrap: failed (exit $status): $*" >&2
  fi
  rm -f "$log"
  return "$status"
}

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  as_root=()
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  fi
  if [ "$(id -u)" = 0 ] || [ ${#as_root[@]} -gt 0 ]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    quietly "${as_root[@]}" apt-get update -q
    quietly "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  else
    echo "bootstrap: missing Debian packages: ${missing[*]}; run as root (or with sudo) to install them" >&2
  fi
fi

if [ ! -x "$VENV/bin/pip" ]; then
  echo "bootstrap: creating $VENV"
  quietly "$PYTHON" -m venv "$VENV"
fi

# One stamp per mode and packaging configuration; a test install covers the demo.
hash=$(cat setup.cfg pyproject.toml | sha256sum | cut -c1-16)
stamp() { echo "$VENV/.installed-$1-$hash"; }
if [ -f "$(stamp "$MODE")" ] || { [ "$MODE" = demo ] && [ -f "$(stamp test)" ]; }; then
  exit 0
fi
echo "bootstrap: installing Python packages ($MODE)"
pip=("$VENV/bin/python" -m pip -q --disable-pip-version-check)
"${pip[@]}" install --upgrade pip
"${pip[@]}" install -e "$TARGET"
rm -f "$VENV"/.installed-*
touch "$(stamp "$MODE")"
