#!/bin/sh
# Launch Chromium full screen on a kiosk or hall display.
# Usage: chromium-kiosk.sh kiosk|display [PAIRING_CODE|-] [BOX_URL]
# With a one-time pairing code (shown on /admin, valid 10 minutes) the browser pairs itself once:
# the box keeps the device token in an HttpOnly cookie in this launcher's profile. The token never
# appears on this command line or in the browser's history; the code is worthless once used.
# Without a code ("-" or nothing), the page asks for one. Autoplay is allowed so the display can
# speak each call without a tap.
set -eu
page=${1:?usage: chromium-kiosk.sh kiosk|display [PAIRING_CODE|-] [BOX_URL]}
code=$(printf %s "${2:--}" | tr -d " ")
box=${3:-http://127.0.0.1:8080}
case "$page" in kiosk|display) ;; *) echo "page must be kiosk or display" >&2; exit 2 ;; esac
url="$box/$page"
case "$code" in -) ;; *[!0-9\ ]*) echo "the pairing code is 8 digits (from /admin)" >&2; exit 2 ;; *) url="$box/pair?code=$code&role=$page" ;; esac
profile=${XDG_CONFIG_HOME:-$HOME/.config}/turnero-$page
exec "${CHROMIUM:-chromium}" --kiosk --noerrdialogs --disable-infobars --no-first-run \
  --autoplay-policy=no-user-gesture-required --disable-session-crashed-bubble \
  --disable-features=Translate --overscroll-history-navigation=0 --check-for-update-interval=31536000 \
  --user-data-dir="$profile" "$url"
