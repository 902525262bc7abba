#!/bin/sh
# Install Neovim >=0.12 (it has vim.lsp.inline_completion) into a private folder, leaving the system untouched:
# Debian sid's packages are downloaded with a private apt state and unpacked; sid's patchelf then points the nvim
# binary at sid's own loader and libraries, so that it runs directly (its TUI re-executes itself with --embed,
# which a loader-wrapper would break).
# Usage: scripts/install-nvim.sh [DIR]   (default .tools/nvim; prints DIR/nvim's version; quick when present)
set -eu
D=${1:-"$(cd "$(dirname "$0")/.." && pwd)/.tools/nvim"}
if [ -x "$D/nvim" ] && "$D/root/usr/bin/nvim" --version >/dev/null 2>&1; then "$D/nvim" --version | head -1; exit 0; fi
A=$D/apt
mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$D/debs" "$D/root"
# the Debian mirror this machine already uses, with the suite switched to sid
M=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -n1)
[ -n "$M" ] || M=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
echo "deb $M sid main" > "$A/sources.list"
O="-o Dir::Etc::sourcelist=$A/sources.list -o Dir::Etc::sourceparts=- -o Dir::State::Lists=$A/lists -o Dir::Cache=$A/cache -o Dir::State::status=/var/lib/dpkg/status"
apt-get $O -qq update
cd "$D/debs" && apt-get $O -qq download neovim neovim-runtime libc6 libgcc-s1 libluajit-5.1-2 \
  libluajit-5.1-common libtree-sitter0.26 libunibilium4 libutf8proc3 libuv1t64 lua-lpeg lua-luv \
  patchelf libstdc++6 2>/dev/null
for f in "$D"/debs/*.deb; do dpkg-deb -x "$f" "$D/root"; done
L=$D/root/usr/lib/x86_64-linux-gnu
"$L/ld-linux-x86-64.so.2" --library-path "$L" "$D/root/usr/bin/patchelf" \
  --set-interpreter "$L/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$L" "$D/root/usr/bin/nvim"
cat > "$D/nvim" <<EOS
#!/bin/sh
export VIMRUNTIME="$D/root/usr/share/nvim/runtime"
exec "$D/root/usr/bin/nvim" "\$@"
EOS
chmod +x "$D/nvim"
"$D/nvim" --version | head -1
