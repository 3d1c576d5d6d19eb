#!/usr/bin/env bash
# Headless Chromium for the access-report browser tests (tests/report/test_report_browser.py).
# Installs Debian's `chromium` package only when /usr/bin/chromium is missing: idempotent, and silent when
# there is nothing to do. apt-get's output goes to a log that is printed only if the installation fails.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium; } >"$log" 2>&1; then
    echo "install-chromium: apt-get failed:" >&2
    cat "$log" >&2
    exit 1
fi
if [ ! -x "$CHROMIUM" ]; then
    echo "install-chromium: the chromium package did not provide $CHROMIUM" >&2
    exit 1
fi
echo "install-chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
