#!/usr/bin/env bash
# Installs the Debian packages `make run` / `make test` need, when they are missing.
set -euo pipefail

want=(postgresql redis-server)          # demo servers (make run) and real test servers
# Tests also run every snippet with its real client or parser.
[ "${1:-run}" = test ] && want+=(chromium nodejs npm ruby golang-go php-cli php-vlucas-phpdotenv
  default-jdk-headless libpostgresql-jdbc-java php-pgsql php-redis php-illuminate-database
  ruby-pg ruby-redis ruby-activerecord)
# The README's CI example of the HTTP API is run as written.
[ "${1:-run}" = test ] && want+=(curl jq)

declare -A provides=(
  [postgresql]=/usr/lib/postgresql [redis-server]=/usr/bin/redis-server
  [chromium]=/usr/bin/chromium [nodejs]=/usr/bin/node [npm]=/usr/bin/npm
  [ruby]=/usr/bin/ruby [golang-go]=/usr/bin/go [php-cli]=/usr/bin/php
  [php-vlucas-phpdotenv]=/usr/share/php/Dotenv/autoload.php
  [default-jdk-headless]=/usr/bin/javac [libpostgresql-jdbc-java]=/usr/share/java/postgresql.jar
  [php-illuminate-database]=/usr/share/php/Illuminate/Database/autoload.php
  [curl]=/usr/bin/curl [jq]=/usr/bin/jq
)
missing=()
for pkg in "${want[@]}"; do
  if [ -n "${provides[$pkg]:-}" ]; then
    [ -e "${provides[$pkg]}" ] || missing+=("$pkg")
  else  # PHP and Ruby extensions: no one path tells, dpkg does
    dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing system packages: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
