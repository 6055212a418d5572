#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the browser tests (Playwright
# drives it; no browser is ever downloaded by Playwright itself). Installs it
# with apt-get when /usr/bin/chromium is missing; otherwise does nothing.
# Stops with one line saying what is missing when it cannot install it.
set -u

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: $CHROMIUM is missing and apt-get is not available to install chromium" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "error: $CHROMIUM is missing and installing it needs root (or sudo)" >&2; exit 1; }
  SUDO="sudo"
fi
($SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium) >/dev/null 2>&1 \
  || { echo "error: $CHROMIUM is missing and 'apt-get install chromium' failed" >&2; exit 1; }
[ -x "$CHROMIUM" ] || { echo "error: chromium was installed but $CHROMIUM is still missing" >&2; exit 1; }
exit 0
