#!/bin/sh
# Nightly backup of the sede (run by turnero-backup.timer): one archive a day. Old archives are
# pruned first and free space is checked before writing (turnero backup --keep-days), so a full
# disk never stops ticket issuing.
set -eu
dest=${TURNERO_BACKUP_DIR:-/var/backups/turnero}
keep=${TURNERO_BACKUP_KEEP_DAYS:-14}
turnero=${TURNERO_BIN:-/opt/turnero/venv/bin/turnero}
mkdir -p "$dest"
"$turnero" backup "$dest/turnero-$(date +%F).tar.gz" --force --keep-days "$keep"
