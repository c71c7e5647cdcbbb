#!/bin/sh
# Install Turnero on a Debian 12 (or Raspberry Pi OS) box as a service. Run as root from a checkout:
#   sudo deploy/install.sh [--sede path/to/sede.toml]
# Creates the system user, /opt/turnero (venv), /var/lib/turnero (data), /var/log/turnero, the
# systemd unit (restarts on failure), the nightly backup timer and log rotation.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
sede=""
[ "${1:-}" = "--sede" ] && sede=${2:?}
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 1; }

apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv espeak-ng libespeak-ng1 sox chromium
id turnero >/dev/null 2>&1 || useradd --system --home /var/lib/turnero --shell /usr/sbin/nologin turnero
# USB printers (lp) and serial printers (dialout) belong to these groups on Debian.
usermod -a -G lp,dialout turnero
install -d -o turnero -g turnero -m 0750 /var/lib/turnero /var/backups/turnero
install -d -o turnero -g turnero -m 0755 /var/log/turnero
install -d /opt/turnero/bin
python3 -m venv /opt/turnero/venv
/opt/turnero/venv/bin/pip install -q --upgrade pip
/opt/turnero/venv/bin/pip install -q "$src"
install -m 0644 "$src/README.md" "$src/docs/guia-operador.md" /opt/turnero/
install -m 0755 "$src/deploy/backup-rotate.sh" "$src/deploy/chromium-kiosk.sh" /opt/turnero/bin/
install -m 0644 "$src/deploy/turnero.service" "$src/deploy/turnero-backup.service" \
  "$src/deploy/turnero-backup.timer" /etc/systemd/system/
[ -f /etc/default/turnero ] || install -m 0644 "$src/deploy/default.turnero" /etc/default/turnero
install -m 0644 "$src/deploy/logrotate.turnero" /etc/logrotate.d/turnero
if [ -n "$sede" ]; then
  install -o turnero -g turnero -m 0640 "$sede" /var/lib/turnero/sede.toml
elif [ ! -f /var/lib/turnero/sede.toml ]; then
  install -o turnero -g turnero -m 0640 "$src/config/example.sede.toml" /var/lib/turnero/sede.toml
  echo "install.sh: edit /var/lib/turnero/sede.toml, then: systemctl restart turnero"
fi
systemctl daemon-reload
systemctl enable --now turnero.service turnero-backup.timer
echo "install.sh: add staff with: sudo -u turnero TURNERO_DATA_DIR=/var/lib/turnero /opt/turnero/venv/bin/turnero user add NAME --role admin"
