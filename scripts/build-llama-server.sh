#!/usr/bin/env bash
# Build llama.cpp's llama-server (the OpenAI-compatible C++ server teams deploy) for the remote-engine tests.
# Sources: the llama.cpp tree vendored in PyPI's llama-cpp-python sdist (PyPI is reachable where GitHub is not).
# ~6 minutes on 2 cores; the binary is cached at .tools/llama-server (gitignored) and reused when present.
# Usage: scripts/build-llama-server.sh [-j JOBS]     (LLAMA_CPP_PYTHON_VERSION overrides the pinned sdist)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=2
if [[ "${1:-}" == "-j" ]]; then JOBS="$2"; fi
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
TOOLS="$PWD/.tools"
BIN="$TOOLS/llama-server"

if [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; then
    echo "llama-server already built: $BIN" >&2
    exit 0
fi
for tool in cmake c++ python3; do
    command -v "$tool" >/dev/null || { echo "missing build tool: $tool" >&2; exit 1; }
done

WORK="$TOOLS/llama-build"
mkdir -p "$WORK"
SDIST=$(ls "$WORK"/llama_cpp_python-"$VERSION".tar.gz 2>/dev/null || true)
if [[ -z "$SDIST" ]]; then
    python3 -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$WORK" >&2
    SDIST="$WORK/llama_cpp_python-$VERSION.tar.gz"
fi
SRC="$WORK/llama_cpp_python-$VERSION"
[[ -d "$SRC/vendor/llama.cpp" ]] || tar -xzf "$SDIST" -C "$WORK"

# Prebuilt UI OFF: otherwise the build tries to download the web UI. Static, CPU only, no curl/openssl.
cmake -S "$SRC/vendor/llama.cpp" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$WORK/build" -j"$JOBS" --target llama-server >&2
cp "$WORK/build/bin/llama-server" "$BIN"
"$BIN" --version >&2 || true
# The sources and objects are ~1 GB; keep only the sdist so a rebuild needs no download.
rm -rf "$SRC" "$WORK/build"
echo "built $BIN" >&2
