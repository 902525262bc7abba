#!/bin/sh
# Install code-server 4.100.3 (VS Code 1.100.3, the newest release that accepts Node 20) from the npm registry,
# Debian's Chromium to drive it headless, and npm playwright-core (for tests/editors/vscode_drive.js).
# Usage: scripts/install-code-server.sh [DIR]   (default .tools/code-server; quick when already present)
# Needs root for apt-get (Chromium and the headers code-server's native modules build against).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
C=${1:-"$ROOT/.tools/code-server"}
if [ -x "$C/bin/code-server" ] && [ -d "$C/npm/node_modules/playwright-core" ] && [ -x /usr/bin/chromium ]; then
  XDG_CONFIG_HOME="$C/config" "$C/bin/code-server" --version | grep -m1 "with Code"; exit 0
fi
mkdir -p "$C/tmp" "$C/npm"
if ! [ -x /usr/bin/chromium ] || ! dpkg -s libkrb5-dev libxkbfile-dev libsecret-1-dev pkg-config >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q libkrb5-dev libxkbfile-dev libsecret-1-dev pkg-config \
    chromium fonts-dejavu-core >/dev/null
fi
# @vscode/ripgrep's postinstall downloads rg from outside the registries: pre-seed its download cache with the
# rg binary that npm's @vscode/ripgrep-linux-x64 package ships.
cd "$C/tmp" && npm pack -q @vscode/ripgrep-linux-x64@1.18.0 >/dev/null && mkdir -p rgx \
  && tar xzf vscode-ripgrep-linux-x64-1.18.0.tgz -C rgx && mkdir -p vscode-ripgrep-cache-1.15.11 \
  && tar czf vscode-ripgrep-cache-1.15.11/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz -C rgx/package/bin rg
cd "$C/npm" && { [ -f package.json ] || npm init -y >/dev/null; }
TMPDIR=$C/tmp npm_config_nodedir=/usr npm_config_unsafe_perm=true npm_config_yes=true \
  npm install --no-audit --no-fund code-server@4.100.3 playwright-core@1 >/dev/null
mkdir -p "$C/bin" && ln -sf "$C/npm/node_modules/.bin/code-server" "$C/bin/code-server"
XDG_CONFIG_HOME="$C/config" "$C/bin/code-server" --version | grep -m1 "with Code"
