#!/bin/sh
# Install Neovim >=0.12 (it has vim.lsp.inline_completion) into a private folder, leaving the system untouched:
# Debian sid's packages are downloaded with a private apt state, unpacked, and run through sid's own loader.
# Usage: scripts/install-nvim.sh [DIR]   (default .tools/nvim; prints DIR/nvim's version; quick when present)
set -eu
D=${1:-"$(cd "$(dirname "$0")/.." && pwd)/.tools/nvim"}
if [ -x "$D/nvim" ] && "$D/nvim" --version >/dev/null 2>&1; then "$D/nvim" --version | head -1; exit 0; fi
A=$D/apt
mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$D/debs" "$D/root"
# the Debian mirror this machine already uses, with the suite switched to sid
M=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -n1)
[ -n "$M" ] || M=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
echo "deb $M sid main" > "$A/sources.list"
O="-o Dir::Etc::sourcelist=$A/sources.list -o Dir::Etc::sourceparts=- -o Dir::State::Lists=$A/lists -o Dir::Cache=$A/cache -o Dir::State::status=/var/lib/dpkg/status"
apt-get $O -qq update
cd "$D/debs" && apt-get $O -qq download neovim neovim-runtime libc6 libgcc-s1 libluajit-5.1-2 \
  libluajit-5.1-common libtree-sitter0.26 libunibilium4 libutf8proc3 libuv1t64 lua-lpeg lua-luv 2>/dev/null
for f in "$D"/debs/*.deb; do dpkg-deb -x "$f" "$D/root"; done
cat > "$D/nvim" <<EOS
#!/bin/sh
R="$D/root"
export VIMRUNTIME="\$R/usr/share/nvim/runtime"
exec "\$R/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "\$R/usr/lib/x86_64-linux-gnu" "\$R/usr/bin/nvim" "\$@"
EOS
chmod +x "$D/nvim"
"$D/nvim" --version | head -1
