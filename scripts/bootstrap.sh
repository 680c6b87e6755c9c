#!/usr/bin/env bash
# Make a fresh clone runnable, without prompts (CI=true, no stdin):
#   1. uv (pip-installed, pinned, when missing)
#   2. .venv synced from uv.lock (the machine's Python; uv never downloads one)
#   3. redis-server (apt-get when root on Debian/Ubuntu; otherwise the exact command to run is printed)
#   4. chromium for the console's browser tests (the same way; Playwright drives it, never `playwright install`)
# Safe to run again: each step is skipped when already done.
# BOOTSTRAP_GROUPS="local" also syncs those opt-in dependency groups (`make local-llm`); without it they are removed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

UV_VERSION="0.13.8"
export UV_PYTHON_DOWNLOADS=never
export DEBIAN_FRONTEND=noninteractive
PYTHON="${PYTHON:-python3}"

say() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

find_uv() {
  if command -v uv >/dev/null 2>&1; then command -v uv; return; fi
  local user_bin
  user_bin="$("$PYTHON" -m site --user-base 2>/dev/null)/bin/uv"
  if [ -x "$user_bin" ]; then echo "$user_bin"; return; fi
  if "$PYTHON" -m uv --version >/dev/null 2>&1; then echo "$PYTHON -m uv"; return; fi
  return 1
}

# --- 1. uv ------------------------------------------------------------------------------------------------------
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: install Python 3.11+ (Debian/Ubuntu: apt-get install -y python3 python3-pip)"
if ! UV="$(find_uv)"; then
  say "installing uv==$UV_VERSION with pip"
  # --user first; an externally managed (PEP 668) system Python needs --break-system-packages for a --user install.
  "$PYTHON" -m pip install --quiet --user "uv==$UV_VERSION" 2>/dev/null \
    || "$PYTHON" -m pip install --quiet --user --break-system-packages "uv==$UV_VERSION" \
    || "$PYTHON" -m pip install --quiet "uv==$UV_VERSION" \
    || die "could not install uv; run: $PYTHON -m pip install --user uv==$UV_VERSION"
  UV="$(find_uv)" || die "uv installed but not found; add $("$PYTHON" -m site --user-base)/bin to PATH"
fi
say "uv: $($UV --version)"

# --- 2. the virtualenv, exactly as locked -------------------------------------------------------------------------
say "syncing .venv from uv.lock${BOOTSTRAP_GROUPS:+ (with groups: $BOOTSTRAP_GROUPS)}"
groups=()
for group in ${BOOTSTRAP_GROUPS:-}; do groups+=(--group "$group"); done
# Bytecode compiled at install: with PYTHONDONTWRITEBYTECODE set, every CLI call would otherwise recompile pydantic.
$UV sync --frozen --compile-bytecode --python "$PYTHON" --quiet ${groups[@]+"${groups[@]}"}

# --- 3. redis-server ----------------------------------------------------------------------------------------------
if command -v redis-server >/dev/null 2>&1; then
  say "redis-server: $(command -v redis-server)"
elif [ "$(id -u)" = "0" ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  say "installing redis-server with apt-get"
  apt-get update -qq </dev/null
  apt-get install -y -qq --no-install-recommends redis-server </dev/null
  command -v redis-server >/dev/null 2>&1 || die "apt-get finished but redis-server is still missing"
else
  if [ -f /etc/debian_version ]; then
    hint="sudo apt-get update && sudo apt-get install -y redis-server"
  elif command -v brew >/dev/null 2>&1; then
    hint="brew install redis"
  else
    hint="install Redis 7 with your package manager so that \`redis-server\` is on PATH"
  fi
  die "redis-server is missing; run: $hint   (or point REDIS_URL at a running Redis)"
fi
# --- 4. chromium (the console's browser tests drive Debian's build; `playwright install` would download one) ------
if command -v chromium >/dev/null 2>&1; then
  say "chromium: $(command -v chromium)"
elif [ "$(id -u)" = "0" ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  say "installing chromium with apt-get"
  apt-get update -qq </dev/null
  apt-get install -y -qq --no-install-recommends chromium </dev/null
  command -v chromium >/dev/null 2>&1 || die "apt-get finished but chromium is still missing"
else
  die "chromium is missing (the console's browser tests need it); run: sudo apt-get install -y chromium"
fi
say "ready"
