#!/usr/bin/env bash
# Makes sure a MySQL/MariaDB server answers at FSM_MYSQL_URL's host and port (default
# 127.0.0.1:3306). If none does and a local mariadbd is installed, starts it, then waits.
#   scripts/mysql.sh up       start if needed and wait until it answers
#   scripts/mysql.sh status   exit 0 when it answers
set -euo pipefail

url="${FSM_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}"
hostport="${url#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=3306

answers() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

case "${1:-up}" in
  status) answers ;;
  up)
    if answers; then echo "mysql: answering on $host:$port"; exit 0; fi
    if [ -x /usr/sbin/mariadbd ] && { [ "$host" = 127.0.0.1 ] || [ "$host" = localhost ]; }; then
      echo "mysql: starting the local mariadbd"
      start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    fi
    for _ in $(seq 1 60); do
      if answers; then echo "mysql: answering on $host:$port"; exit 0; fi
      sleep 1
    done
    echo "mysql: nothing answers on $host:$port after 60 s" >&2
    exit 1
    ;;
  *) echo "usage: scripts/mysql.sh up|status" >&2; exit 2 ;;
esac
