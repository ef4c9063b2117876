#!/usr/bin/env bash
# Set up cyberscan on a fresh Debian/Ubuntu machine: system packages, a virtualenv in .venv, the package.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# System packages: Python's venv module, nmap for the exposed-services checks, TLS test servers,
# a browser for the report tests.
missing=()
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v nmap >/dev/null 2>&1 || missing+=(nmap)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# gnutls-serv serves the 3DES/RC4 suites Debian's OpenSSL 3 has compiled out (TLS test servers).
command -v gnutls-serv >/dev/null 2>&1 || missing+=(gnutls-bin)
# chromium loads the HTML report in the browser tests (offline, nothing may run or leave).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 10):
    sys.exit(f"setup: cyberscan needs Python 3.10 or newer, found {sys.version.split()[0]}")
PY

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# One pip run resolves sslyze (cryptography<47) and dnspython[dnssec] together.
.venv/bin/python -m pip install --quiet -e '.[test]'
.venv/bin/python -m pip check
echo "setup: done — run .venv/bin/cyberscan --help"
