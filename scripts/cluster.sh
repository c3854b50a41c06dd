#!/usr/bin/env bash
# The docker-compose topology without Docker, on 127.0.0.1 only: a throwaway PostgreSQL, three Relay
# gateways in one Akka cluster, and nginx in front of them on port 5001.
#
#   scripts/cluster.sh up       builds the Gateway (Release), starts everything, waits until it is ready
#   scripts/cluster.sh status   what runs, and each gateway's status
#   scripts/cluster.sh down     stops what "up" started (and nothing else); the journal is kept
#   scripts/cluster.sh down --purge   ... and deletes the state folder with the journal
#
# State (pids, logs, PostgreSQL data, nginx config, the nodes' TLS certificate) lives in $RELAY_CLUSTER_DIR
# (default .tmp/cluster). The gateways talk to each other over TLS with a throwaway self-signed certificate.
# They form their cluster by Cluster Bootstrap (config discovery of the three management ports, all three
# required); RELAY_FORMATION=seeds gives them static seed nodes instead (docs/cluster.md).
# Ports: nginx 5001, gateways HTTP 5011-5013, Akka 4061-4063 and management 8551-8553, PostgreSQL 5433;
# override with RELAY_LB_PORT, RELAY_HTTP_BASE (5010), RELAY_AKKA_BASE (4060), RELAY_MANAGEMENT_BASE (8550),
# RELAY_PG_PORT. RELAY_SKIP_BUILD=1 skips the build; RELAY_GATEWAY_DLL runs another build of the Gateway
# (the tests run their own build).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${RELAY_CLUSTER_DIR:-$ROOT/.tmp/cluster}
LB_PORT=${RELAY_LB_PORT:-5001}
HTTP_BASE=${RELAY_HTTP_BASE:-5010}
AKKA_BASE=${RELAY_AKKA_BASE:-4060}
MANAGEMENT_BASE=${RELAY_MANAGEMENT_BASE:-8550}
FORMATION=${RELAY_FORMATION:-bootstrap}
PG_PORT=${RELAY_PG_PORT:-5433}
NODES=(1 2 3)
GATEWAY_DLL=${RELAY_GATEWAY_DLL:-$ROOT/src/Gateway/bin/Release/net10.0/Relay.Gateway.dll}

# Readiness of a gateway on HTTP port $1: /readyz answers 200 (cluster member, topic, sequencer, journal).
ready() { curl -fsS --max-time 2 "http://127.0.0.1:$1/readyz" >/dev/null 2>&1; }

log() { echo "cluster: $*" >&2; }

http_port() { echo $((HTTP_BASE + $1)); }
akka_port() { echo $((AKKA_BASE + $1)); }
management_port() { echo $((MANAGEMENT_BASE + $1)); }

# The pid recorded in $STATE/$1.pid, if that process still runs the program named $2.
live_pid() {
  local file=$STATE/$1.pid pid
  [[ -f $file ]] || return 1
  pid=$(cat "$file")
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2" && echo "$pid"
}

wait_until() {
  local what=$1 seconds=$2
  shift 2
  for _ in $(seq 1 $((seconds * 5))); do
    if "$@"; then
      return 0
    fi
    sleep 0.2
  done
  log "$what not ready within ${seconds}s"
  return 1
}

require() {
  if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
    log "nginx not found; install it: apt-get install -y nginx"
    exit 1
  fi
  command -v curl >/dev/null || { log "curl not found; install it: apt-get install -y curl"; exit 1; }
  command -v openssl >/dev/null || { log "openssl not found; install it: apt-get install -y openssl"; exit 1; }
}

# The certificate every gateway presents to the others and requires of them (TLS with mutual authentication):
# self-signed, generated once per state folder, readable by this user only.
ensure_certificate() {
  local dir=$STATE/tls
  [[ -f $dir/node.pfx ]] && return 0
  mkdir -p "$dir"
  chmod 700 "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=relay-cluster" \
    -keyout "$dir/node.key" -out "$dir/node.crt" >/dev/null 2>&1
  openssl pkcs12 -export -inkey "$dir/node.key" -in "$dir/node.crt" -out "$dir/node.pfx" -passout pass:
  rm -f "$dir/node.key"
  log "generated the nodes' TLS certificate in $dir"
}

nginx_bin() { command -v nginx || echo /usr/sbin/nginx; }

start_gateway() {
  local n=$1 connection=$2
  if live_pid "gateway$n" Relay.Gateway.dll >/dev/null; then
    log "gateway$n already runs"
    return 0
  fi
  local args=(
    "$GATEWAY_DLL"
    "--urls=http://127.0.0.1:$(http_port "$n")"
    "--Relay:Akka:Hostname=127.0.0.1"
    "--Relay:Akka:Port=$(akka_port "$n")"
    "--Relay:Journal:Provider=postgresql"
    "--Relay:Journal:ConnectionString=$connection"
    "--Relay:Akka:Tls:Enabled=true"
    "--Relay:Akka:Tls:CertificatePath=$STATE/tls/node.pfx"
  )
  local i=0 m
  if [[ $FORMATION == seeds ]]; then
    for m in "${NODES[@]}"; do
      args+=("--Relay:Akka:SeedNodes:$i=akka.ssl.tcp://relay@127.0.0.1:$(akka_port "$m")")
      i=$((i + 1))
    done
  else
    # Every gateway's contact point is 127.0.0.1:its management port, its own included; all are required.
    args+=("--Relay:Akka:Bootstrap:Discovery=config" "--Relay:Akka:Bootstrap:ManagementPort=$(management_port "$n")"
      "--Relay:Akka:Bootstrap:RequiredContactPoints=${#NODES[@]}")
    for m in "${NODES[@]}"; do
      args+=("--Relay:Akka:Bootstrap:ContactPoints:$i=127.0.0.1:$(management_port "$m")")
      i=$((i + 1))
    done
  fi
  (cd "$(dirname "$GATEWAY_DLL")" && exec nohup dotnet "${args[@]}" >"$STATE/gateway$n.log" 2>&1 </dev/null) &
  echo $! >"$STATE/gateway$n.pid"
  log "gateway$n: pid $!, http://127.0.0.1:$(http_port "$n"), akka.ssl.tcp://relay@127.0.0.1:$(akka_port "$n") ($FORMATION)"
}

write_nginx_conf() {
  local dir=$STATE/nginx servers="" n
  mkdir -p "$dir/logs"
  for n in "${NODES[@]}"; do
    servers+="    server 127.0.0.1:$(http_port "$n") max_fails=1 fail_timeout=5s;"$'\n'
  done
  cat >"$dir/nginx.conf" <<EOF
# Generated by scripts/cluster.sh; deploy/nginx/relay.conf is the docker-compose counterpart.
daemon off;
worker_processes 1;
# Two descriptors per proxied WebSocket (client and gateway): room for as many sockets as the gateways hold.
worker_rlimit_nofile 65536;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;

events {
  worker_connections 32768;
}

http {
  # \$uri, not \$request: a browser's token arrives as ?access_token=..., which must not reach the logs.
  log_format relay '\$remote_addr [\$time_local] "\$request_method \$uri \$server_protocol" \$status \$body_bytes_sent \$request_time "\$http_user_agent"';
  access_log $dir/logs/access.log relay;
  client_body_temp_path $dir/client_body_temp;
  proxy_temp_path $dir/proxy_temp;
  fastcgi_temp_path $dir/fastcgi_temp;
  uwsgi_temp_path $dir/uwsgi_temp;
  scgi_temp_path $dir/scgi_temp;

  map \$http_upgrade \$connection_upgrade {
    default upgrade;
    ''      close;
  }

  # Round robin, no sticky sessions: every gateway serves every client.
  upstream relay {
$servers  }

  server {
    listen 127.0.0.1:$LB_PORT;

    location / {
      proxy_pass http://relay;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      # A WebSocket may stay quiet for long; the gateway's keep-alive pings flow every 30 s anyway.
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
      proxy_buffering off;
      # A gateway that is down or not ready yet (503) hands the upgrade to the next one.
      proxy_next_upstream error timeout http_502 http_503;
    }
  }
}
EOF
}

up() {
  require
  mkdir -p "$STATE"
  if [[ ${RELAY_SKIP_BUILD:-0} != 1 ]]; then
    log "building the Gateway (Release)"
    dotnet build "$ROOT/src/Gateway/Relay.Gateway.csproj" -c Release -nologo -v quiet >"$STATE/build.log" 2>&1 ||
      { tail -n 30 "$STATE/build.log" >&2; exit 1; }
  fi
  [[ -f $GATEWAY_DLL ]] || { log "$GATEWAY_DLL missing; build it: dotnet build src/Gateway -c Release"; exit 1; }

  log "PostgreSQL on 127.0.0.1:$PG_PORT (data in $STATE/postgres)"
  local connection
  connection=$("$ROOT/scripts/postgres.sh" start "$STATE/postgres" "$PG_PORT")
  echo "$connection" >"$STATE/connection-string"

  case $FORMATION in
    bootstrap | seeds) ;;
    *) log "RELAY_FORMATION must be bootstrap (default) or seeds, not '$FORMATION'"; exit 2 ;;
  esac
  ensure_certificate
  # All together, as an orchestrator starts them: with the bootstrap, none forms a cluster until all three answer
  # its probes, then the lowest contact point forms it and the others join; with static seeds, every gateway lists
  # every gateway, the first seed forms the cluster. The journal's tables are created once, whoever asks first.
  local n
  for n in "${NODES[@]}"; do
    start_gateway "$n" "$connection"
  done
  for n in "${NODES[@]}"; do
    wait_until "gateway$n" 120 ready "$(http_port "$n")" || { tail -n 40 "$STATE/gateway$n.log" >&2; exit 1; }
  done

  if ! live_pid nginx nginx >/dev/null; then
    write_nginx_conf
    (exec nohup "$(nginx_bin)" -p "$STATE/nginx" -c "$STATE/nginx/nginx.conf" -e "$STATE/nginx/logs/error.log" \
      >"$STATE/nginx.log" 2>&1 </dev/null) &
    echo $! >"$STATE/nginx.pid"
    log "nginx: pid $!, http://127.0.0.1:$LB_PORT"
  fi
  wait_until nginx 30 ready "$LB_PORT" || { cat "$STATE/nginx.log" "$STATE/nginx/logs/error.log" >&2 || true; exit 1; }
  log "up: ws://127.0.0.1:$LB_PORT/ (gateways on $(http_port 1)-$(http_port 3)); scripts/cluster.sh down stops it"
}

stop_pid() {
  local name=$1 program=$2 signal=$3 seconds=$4 pid
  if pid=$(live_pid "$name" "$program"); then
    kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((seconds * 5))); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) did not stop within ${seconds}s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "$name stopped"
  fi
  rm -f "$STATE/$name.pid"
}

down() {
  [[ -d $STATE ]] || { log "nothing to stop ($STATE does not exist)"; return 0; }
  stop_pid nginx nginx QUIT 10
  local n
  # Youngest first, so the sequencer moves at most once.
  for n in 3 2 1; do
    stop_pid "gateway$n" Relay.Gateway.dll TERM 20
  done
  if [[ -d $STATE/postgres/data ]]; then
    "$ROOT/scripts/postgres.sh" stop "$STATE/postgres"
    log "PostgreSQL stopped"
  fi
  if [[ ${1:-} == --purge ]]; then
    rm -rf "$STATE"
    log "removed $STATE"
  fi
}

status() {
  local n pid failed=0
  if [[ -d $STATE/postgres/data ]] && "$ROOT/scripts/postgres.sh" status "$STATE/postgres" >/dev/null 2>&1; then
    echo "postgres   running   127.0.0.1:$PG_PORT"
  else
    echo "postgres   stopped"
    failed=1
  fi
  for n in "${NODES[@]}"; do
    if pid=$(live_pid "gateway$n" Relay.Gateway.dll); then
      echo "gateway$n   pid $pid  $(curl -fsS --max-time 2 "http://127.0.0.1:$(http_port "$n")/" 2>/dev/null || echo 'no answer')"
    else
      echo "gateway$n   stopped"
      failed=1
    fi
  done
  if pid=$(live_pid nginx nginx); then
    echo "nginx      pid $pid  $(curl -fsS --max-time 2 "http://127.0.0.1:$LB_PORT/" 2>/dev/null || echo 'no answer')"
  else
    echo "nginx      stopped"
    failed=1
  fi
  return $failed
}

case ${1:-} in
  up) up ;;
  down) down "${2:-}" ;;
  status) status ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
