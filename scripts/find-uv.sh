#!/usr/bin/env bash
# Print the path of a usable `uv`, installing it first if there is none: with pip --user, or, where
# the system Python refuses that (PEP 668 "externally managed"), into a private venv in .tools/.
# Used by ./test, ./demo and .ci/run, so that a clean clone needs nothing but Python.
# When the uv it gives is not on PATH (installed just now, or before, in pip's user bin or .tools/),
# it says so on stderr in one line, with the `export PATH=...` that makes the `uv` commands of
# docs/development.md work in the user's shell (a script cannot change its caller's PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

find_uv() {
  command -v uv 2>/dev/null && return 0
  local candidate
  for candidate in "$("$PYTHON" -m site --user-base 2>/dev/null)/bin/uv" "$PWD/.tools/uv/bin/uv"; do
    [ -x "$candidate" ] && { echo "$candidate"; return 0; }
  done
  return 1
}

# The one line for a uv off PATH (see above); nothing when `uv` already works in the shell.
off_path_note() {
  command -v uv >/dev/null 2>&1 && return 0
  echo "==> uv is at $1, not on your PATH; to run the uv commands of docs/development.md: export PATH=\"$(dirname "$1"):\$PATH\"" >&2
}

if uv_path="$(find_uv)"; then
  off_path_note "$uv_path"
  echo "$uv_path"
  exit 0
fi
echo "==> Installing uv (the Python package manager the project uses)" >&2
# pip's own refusal (PEP 668) is expected on some systems and is not an error here: it is shown
# only if the private venv fails too.
pip_said="$(mktemp)"
if ! "$PYTHON" -m pip install --quiet --disable-pip-version-check --user uv 2>"$pip_said" >&2; then
  echo "    (pip --user is refused here: installing uv into a private venv in .tools/)" >&2
  if ! { "$PYTHON" -m venv .tools/uv && .tools/uv/bin/python -m pip install --quiet \
      --disable-pip-version-check uv; } >&2; then
    cat "$pip_said" >&2
    rm -f "$pip_said"
    echo "uv could not be installed" >&2
    exit 1
  fi
fi
rm -f "$pip_said"
uv_path="$(find_uv)" || { echo "uv could not be installed" >&2; exit 1; }
off_path_note "$uv_path"
echo "$uv_path"
