#!/usr/bin/env bash
# Make PostgreSQL's server programs (initdb, postgres) available for the end-to-end tests, which
# start a throwaway server of their own on loopback (tests/e2e/postgres.py). Used by .ci/run, and by
# the tests themselves on a machine that lacks them.
#
# Exit 0: the programs are there (found, or installed now). Exit 3: they are missing and cannot be
# installed here (not root, or no apt-get); the last line printed says why.
set -euo pipefail

found() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

if found; then
  echo "PostgreSQL server programs: present"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "PostgreSQL is not installed and there is no apt-get to install it with."
  exit 3
fi
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    exec sudo -n "$0" "$@"
  fi
  echo "PostgreSQL is not installed; as root: apt-get install postgresql (or run $0 as root)."
  exit 3
fi

echo "Installing PostgreSQL with apt-get (once per machine)..."
export DEBIAN_FRONTEND=noninteractive
# The tests run their own server: keep the package from creating and starting a cluster of its
# own, which would stay running on port 5432.
mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/tap-aphex-tests.conf
if ! { apt-get update -qq &&
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }; then
  echo "apt-get could not install PostgreSQL."
  exit 3
fi
if ! found; then
  echo "apt-get installed postgresql but no initdb was found under /usr/lib/postgresql."
  exit 3
fi
echo "PostgreSQL server programs: installed"
