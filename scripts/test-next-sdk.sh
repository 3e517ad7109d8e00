#!/usr/bin/env bash
# The tap's tests (all but the end-to-end ones) on the newest singer-sdk, pre-releases included, so
# that an SDK release that breaks the tap is seen before we move the lock to it. CI runs this daily
# and on every push (.github/workflows/ci.yml, job "next-sdk"); a developer runs it the same way:
#
#   scripts/test-next-sdk.sh                      # the whole non-e2e suite
#   scripts/test-next-sdk.sh tests/test_sdk_seam.py -x   # pytest's arguments are passed on
#   SDK_SPEC='singer-sdk[msgspec,testing]==0.55.0b7' scripts/test-next-sdk.sh   # a given version
#
# It works in a venv of its own (NEXT_SDK_VENV, default .tools/next-sdk, git-ignored), made from the
# lock, so the project's .venv stays as locked. "Newest" is not capped by pyproject's `<0.56`: a
# pre-release of the next minor breaking us should show up before anyone widens that range.
# When this fails, start at tests/test_sdk_seam.py: it names the SDK internal that moved.
set -euo pipefail
cd "$(dirname "$0")/.."

export UV_NO_PROGRESS=1
UV="$(bash scripts/find-uv.sh)"   # installs uv when there is none
export PATH="$(dirname "$UV"):$PATH"

venv="${NEXT_SDK_VENV:-.tools/next-sdk}"
spec="${SDK_SPEC:-singer-sdk[msgspec,testing]}"

# The locked environment first, without the end-to-end group (Meltano and its targets are not what
# changes with the SDK, and that group does not install everywhere); then the SDK alone upgraded.
UV_PROJECT_ENVIRONMENT="$venv" uv sync --locked --no-group e2e
uv pip install --python "$venv/bin/python" --pre --upgrade "$spec"
"$venv/bin/python" -c 'import importlib.metadata as m; print("==> singer-sdk", m.version("singer-sdk"))'

# tests/e2e is not collected: its conftest imports the e2e group's packages.
"$venv/bin/python" -m pytest -m 'not e2e' --ignore=tests/e2e -p no:cacheprovider "$@"
