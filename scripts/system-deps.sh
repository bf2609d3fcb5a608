#!/usr/bin/env bash
# Installs the Debian packages `make run` / `make test` need, when they are missing.
set -euo pipefail

want=(postgresql redis-server)          # demo servers (make run) and real test servers
# Tests also run every snippet with its real client or parser.
[ "${1:-run}" = test ] && want+=(chromium nodejs npm ruby golang-go php-cli php-vlucas-phpdotenv)
# The README's CI example of the HTTP API is run as written.
[ "${1:-run}" = test ] && want+=(curl jq)

declare -A provides=(
  [postgresql]=/usr/lib/postgresql [redis-server]=/usr/bin/redis-server
  [chromium]=/usr/bin/chromium [nodejs]=/usr/bin/node [npm]=/usr/bin/npm
  [ruby]=/usr/bin/ruby [golang-go]=/usr/bin/go [php-cli]=/usr/bin/php
  [php-vlucas-phpdotenv]=/usr/share/php/Dotenv/autoload.php
  [curl]=/usr/bin/curl [jq]=/usr/bin/jq
)
missing=()
for pkg in "${want[@]}"; do
  [ -e "${provides[$pkg]}" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing system packages: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
