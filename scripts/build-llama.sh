#!/usr/bin/env bash
# Build llama.cpp's own `llama-server` (CPU only) from the llama.cpp sources vendored in llama-cpp-python's sdist.
#
# Why this source: llama-cpp-python is MIT, on PyPI (the only registry reachable here), and pins one llama.cpp commit
# (also MIT). We build only the `llama-server` target, statically linked, with every fetching feature off: no
# prebuilt web UI download, no npm UI build, no curl, no OpenSSL.
#
# Idempotent: the binary is cached outside the checkout, keyed by the sdist version and the build flags, so a second
# run (or a fresh clone on the same machine) finds it at once. Prints the binary's path on its last line.
#   GENAI_FLOW_LOCAL_LLM_DIR   cache root (default: ~/.cache/genai-flow/llama, as the setting of that name)
#   LLAMA_JOBS                 parallel compile jobs (default: nproc)
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION="0.3.36"
PYTHON="${PYTHON:-python3}"
CACHE_ROOT="${GENAI_FLOW_LOCAL_LLM_DIR:-$HOME/.cache/genai-flow/llama}"
JOBS="${LLAMA_JOBS:-$(nproc 2>/dev/null || echo 2)}"

CMAKE_FLAGS=(
  -G Ninja
  -DCMAKE_BUILD_TYPE=Release
  -DBUILD_SHARED_LIBS=OFF
  -DGGML_NATIVE=ON
  -DLLAMA_BUILD_TESTS=OFF
  -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_BUILD_TOOLS=ON
  -DLLAMA_BUILD_SERVER=ON
  -DLLAMA_BUILD_UI=OFF
  -DLLAMA_USE_PREBUILT_UI=OFF
  -DLLAMA_OPENSSL=OFF
  -DLLAMA_CURL=OFF
)

say() { printf 'build-llama: %s\n' "$*" >&2; }
die() { printf 'build-llama: error: %s\n' "$*" >&2; exit 1; }

# The key covers what changes the binary: source version, flags, and the CPU (GGML_NATIVE tunes for this one).
cpu_sig="$(grep -m1 -E '^flags' /proc/cpuinfo 2>/dev/null || uname -m)"
key="$(printf '%s\n%s\n%s\n' "$LLAMA_CPP_PYTHON_VERSION" "${CMAKE_FLAGS[*]}" "$cpu_sig" | sha256sum | cut -c1-12)"
PREFIX="$CACHE_ROOT/llama-cpp-python-$LLAMA_CPP_PYTHON_VERSION-$key"
BIN="$PREFIX/bin/llama-server"

if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
  say "cached: $BIN"
  echo "$BIN"
  exit 0
fi

missing=()
for tool in cmake ninja c++ cc; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = "0" ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  say "installing the build tools with apt-get (missing: ${missing[*]})"
  apt-get update -qq </dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cmake ninja-build g++ </dev/null
fi
for tool in cmake ninja c++ cc; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing; on Debian/Ubuntu: apt-get install -y cmake ninja-build g++"
done

WORK="$CACHE_ROOT/work-$key"
mkdir -p "$WORK"
sdist="$(ls "$WORK"/llama_cpp_python-"$LLAMA_CPP_PYTHON_VERSION".tar.gz 2>/dev/null || true)"
if [ -z "$sdist" ]; then
  say "downloading the llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist (MIT; vendors llama.cpp)"
  # uv's venvs carry no pip: use the first interpreter that has one (the machine's python3 does).
  pip_python=""
  for candidate in "$PYTHON" python3; do
    if "$candidate" -m pip --version >/dev/null 2>&1; then pip_python="$candidate"; break; fi
  done
  [ -n "$pip_python" ] || die "no Python with pip found to download the sdist; install pip (apt-get install -y python3-pip)"
  "$pip_python" -m pip download --quiet --no-deps --no-binary :all: \
    "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d "$WORK" </dev/null
  sdist="$WORK/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
fi
[ -f "$sdist" ] || die "sdist not found after download: $sdist"

SRC="$WORK/src"
if [ ! -f "$SRC/vendor/llama.cpp/CMakeLists.txt" ]; then
  rm -rf "$SRC" && mkdir -p "$SRC"
  tar -xzf "$sdist" -C "$SRC" --strip-components=1
fi

say "configuring (CPU only, nothing fetched)"
cmake -S "$SRC/vendor/llama.cpp" -B "$WORK/build" "${CMAKE_FLAGS[@]}" >"$WORK/configure.log" 2>&1 \
  || { tail -30 "$WORK/configure.log" >&2; die "cmake configure failed (log: $WORK/configure.log)"; }
say "compiling llama-server with $JOBS jobs (about 15 minutes on 2 cores)"
start=$(date +%s)
cmake --build "$WORK/build" --target llama-server -j "$JOBS" >"$WORK/build.log" 2>&1 \
  || { tail -30 "$WORK/build.log" >&2; die "build failed (log: $WORK/build.log)"; }
say "compiled in $(( $(date +%s) - start ))s"

# Install atomically: a half-copied binary must never look cached.
tmp="$PREFIX.tmp.$$"
rm -rf "$tmp" && mkdir -p "$tmp/bin" "$tmp/licenses"
cp "$WORK/build/bin/llama-server" "$tmp/bin/llama-server"
cp "$SRC/vendor/llama.cpp/LICENSE" "$tmp/licenses/llama.cpp-LICENSE"
cp "$SRC/LICENSE.md" "$tmp/licenses/llama-cpp-python-LICENSE.md"
"$tmp/bin/llama-server" --version >"$tmp/VERSION" 2>&1 || die "the built llama-server does not run"
rm -rf "$PREFIX" && mv "$tmp" "$PREFIX"
rm -rf "$WORK"
say "installed: $BIN"
echo "$BIN"
