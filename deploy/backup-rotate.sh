#!/bin/sh
# Nightly backup of the sede (run by turnero-backup.timer): one archive a day, old ones pruned.
set -eu
dest=${TURNERO_BACKUP_DIR:-/var/backups/turnero}
keep=${TURNERO_BACKUP_KEEP_DAYS:-14}
turnero=${TURNERO_BIN:-/opt/turnero/venv/bin/turnero}
mkdir -p "$dest"
"$turnero" backup "$dest/turnero-$(date +%F).tar.gz" --force
find "$dest" -name 'turnero-*.tar.gz' -mtime +"$keep" -delete
