#!/usr/bin/env bash
# A throwaway PostgreSQL for tests and the local cluster: Debian's server binaries, data under DIR,
# listening on 127.0.0.1:PORT only, trust authentication on loopback, a database named "relay".
#
#   scripts/postgres.sh start  DIR PORT   initialises DIR if it is empty, starts the server, creates "relay",
#                                         prints the Npgsql connection string
#   scripts/postgres.sh stop   DIR        stops the server (fast shutdown); DIR stays for a later start
#   scripts/postgres.sh kill   DIR        SIGKILLs the server (a crash; a later start recovers)
#   scripts/postgres.sh status DIR        exit 0 when the server runs
#   scripts/postgres.sh url    DIR PORT [DATABASE]   prints the connection string
#   scripts/postgres.sh createdb DIR PORT NAME       creates database NAME (no error if it exists)
#
# PostgreSQL refuses to run as root; as root the server runs as the "postgres" system user that
# Debian's package creates (DIR is handed to it). As any other user it runs as that user.
set -euo pipefail

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

find_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$dir/postgres" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
      echo "$dir"
      return 0
    fi
  done
  echo "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; install them: apt-get install -y postgresql" >&2
  return 1
}

# Runs a command as the server's user.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

ensure_user() {
  if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postgres
  fi
}

url() {
  local port=$1 database=${2:-relay}
  echo "Host=127.0.0.1;Port=$port;Username=relay;Password=relay;Database=$database;Include Error Detail=true"
}

psql_run() {
  local port=$1 sql=$2
  as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U relay -d postgres -c "$sql"
}

createdb() {
  local port=$1 name=$2
  if [[ ! $name =~ ^[a-z_][a-z0-9_]*$ ]]; then
    echo "database name '$name' must match [a-z_][a-z0-9_]*" >&2
    exit 2
  fi
  local exists
  exists=$(as_owner "$BIN/psql" -X -tA -h 127.0.0.1 -p "$port" -U relay -d postgres \
    -c "SELECT 1 FROM pg_database WHERE datname = '$name'")
  if [[ $exists != 1 ]]; then
    psql_run "$port" "CREATE DATABASE $name"
  fi
}

start() {
  local dir=$1 port=$2
  ensure_user
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local data=$dir/data
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$dir"
    # The server user must reach DIR through its parents (a mode-700 home folder would stop it).
    if ! runuser -u postgres -- test -x "$dir"; then
      echo "user postgres cannot reach $dir; choose a folder under /tmp or make its parents traversable" >&2
      exit 1
    fi
  fi

  if [[ ! -f $data/PG_VERSION ]]; then
    as_owner mkdir -p "$data"
    as_owner "$BIN/initdb" -D "$data" -U relay --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    # Throwaway data: no fsync (only a crash of the machine loses data); loopback only; no Unix socket
    # (paths under temp folders can exceed the socket path limit, and nothing here needs one).
    # synchronous_commit stays on: a commit is acknowledged only once its WAL is handed to the kernel, so
    # a SIGKILLed server (the fault specs kill it) keeps every write the journal confirmed, as a real one does.
    cat >>"$data/postgresql.conf" <<EOF

# scripts/postgres.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 300
fsync = off
synchronous_commit = on
full_page_writes = off
shared_buffers = 64MB
log_min_messages = warning
log_line_prefix = '%m [%p] '
EOF
    cat >"$data/pg_hba.conf" <<EOF
# scripts/postgres.sh: trust on loopback only
host all all 127.0.0.1/32 trust
EOF
  fi

  if as_owner "$BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "PostgreSQL already runs in $data" >&2
  else
    as_owner "$BIN/pg_ctl" -D "$data" -o "-p $port" -l "$dir/postgres.log" -w -t 60 start >/dev/null ||
      { tail -n 30 "$dir/postgres.log" >&2; exit 1; }
  fi

  createdb "$port" relay
  url "$port"
}

stop() {
  local data=$1/data
  if [[ -f $data/postmaster.pid ]] && as_owner "$BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_owner "$BIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
  fi
}

kill_server() {
  local pidfile=$1/data/postmaster.pid
  if [[ -f $pidfile ]]; then
    local pid
    pid=$(head -n 1 "$pidfile")
    kill -KILL "$pid" 2>/dev/null || true
    # The postmaster's children notice its death and exit on their own; wait for the port to free up.
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
}

[[ $# -ge 2 ]] || usage
command=$1
BIN=$(find_bin)
case $command in
  start) [[ $# -eq 3 ]] || usage; start "$2" "$3" ;;
  stop) stop "$2" ;;
  kill) kill_server "$2" ;;
  status) as_owner "$BIN/pg_ctl" -D "$2/data" status ;;
  url) [[ $# -ge 3 ]] || usage; url "$3" "${4:-relay}" ;;
  createdb) [[ $# -eq 4 ]] || usage; createdb "$3" "$4" ;;
  *) usage ;;
esac
