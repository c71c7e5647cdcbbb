#!/bin/sh
# Launch Chromium full screen on a kiosk or hall display, paired with its device token.
# Usage: chromium-kiosk.sh kiosk|display [TOKEN|-] [BOX_URL]
# With a token (from `turnero device add`) it is passed once in the URL; the box keeps it in an
# HttpOnly cookie and drops it from the address. Without one ("-" or nothing), the page asks for
# the one-time pairing code shown on /admin, and the cookie is kept in this launcher's profile.
# Autoplay is allowed so the display can speak each call without a tap.
set -eu
page=${1:?usage: chromium-kiosk.sh kiosk|display [TOKEN|-] [BOX_URL]}
token=${2:--}
box=${3:-http://127.0.0.1:8080}
case "$page" in kiosk|display) ;; *) echo "page must be kiosk or display" >&2; exit 2 ;; esac
url="$box/$page"
[ "$token" = "-" ] || url="$url?device_token=$token"
profile=${XDG_CONFIG_HOME:-$HOME/.config}/turnero-$page
exec "${CHROMIUM:-chromium}" --kiosk --noerrdialogs --disable-infobars --no-first-run \
  --autoplay-policy=no-user-gesture-required --disable-session-crashed-bubble \
  --disable-features=Translate --overscroll-history-navigation=0 --check-for-update-interval=31536000 \
  --user-data-dir="$profile" "$url"
