#!/bin/sh
# Install Emacs (no X) with eglot, Emacs's built-in-style LSP client, from Debian's packages (needs root).
# Usage: scripts/install-emacs.sh   (quick when already installed; prints the Emacs version)
set -eu
if ! command -v emacs >/dev/null 2>&1 || ! [ -d /usr/share/emacs/site-lisp/elpa-src ] \
    || ! ls /usr/share/emacs/site-lisp/elpa-src | grep -q '^eglot-'; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q emacs-nox elpa-eglot >/dev/null
fi
emacs --version | head -1
