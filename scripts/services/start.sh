#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Start the servers that the integration tests use, on 127.0.0.1 only.
#
# Usage: scripts/services/start.sh [rabbitmq|kafka|ferretdb|all]...
#
# Installs or builds each server on first use, starts the ones that are not running,
# and waits until each passes a real client round trip (check.py), at most
# WORKBENCH_SERVICES_TIMEOUT seconds per server. A server that is already running and
# passes the check is left alone. On success, prints one NAME=URL line per server
# on stdout, for the tests; progress and errors go to stderr.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$SERVICES_SCRIPT_DIR/rabbitmq.sh"
source "$SERVICES_SCRIPT_DIR/kafka.sh"
source "$SERVICES_SCRIPT_DIR/ferretdb.sh"

parse_services "$@"
services=("${REQUESTED_SERVICES[@]}")

# A first start resolves Kafka and builds FerretDB, which takes minutes.
lock_services_dir 1800
ensure_check_python

declare -A started_now=()
failed=()

# Start every requested server first and wait for them afterwards, so that their
# start-ups overlap with each other and with the FerretDB build.
for service in "${services[@]}"; do
    if "${service}_running"; then
        started_now[$service]=0
    else
        started_now[$service]=1
    fi

    # A subshell with errexit, so that one server that fails to install or start
    # does not keep the others from starting.
    set +e
    (
        set -e
        "${service}_start"
    )
    status=$?
    set -e

    if [ "$status" -ne 0 ]; then
        failed+=("$service")
    fi
done

wait_ready() {
    local service="$1" pid started_at elapsed
    pid="$("${service}_pid")"
    started_at=$SECONDS

    if run_check "$service" "$(service_url "$service")" --timeout "$READY_TIMEOUT" --pid "$pid" >&2; then
        elapsed=$((SECONDS - started_at))
        log "$service is ready (pid $pid, waited ${elapsed}s; $("${service}_memory"))"
        return 0
    fi

    log "$service failed its readiness check; logs:"
    "${service}_logs" | sed 's/^/[services]   /' >&2
    mapfile -t log_files < <("${service}_logs")
    show_logs "${log_files[@]}"

    if [ "${started_now[$service]}" -eq 1 ]; then
        log "stopping $service, which this run started"
        "${service}_stop"
    else
        log "$service was already running before this run; stop it with scripts/services/stop.sh $service"
    fi
    return 1
}

for service in "${services[@]}"; do
    if printf '%s\n' "${failed[@]}" | grep -qx -- "$service"; then
        continue
    fi

    set +e
    (
        set -e
        wait_ready "$service"
    )
    status=$?
    set -e

    if [ "$status" -ne 0 ]; then
        failed+=("$service")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    die "failed to start: ${failed[*]}"
fi

for service in "${services[@]}"; do
    case "$service" in
        rabbitmq) printf 'WORKBENCH_RABBITMQ_URL=%s\n' "$RABBITMQ_URL" ;;
        kafka) printf 'WORKBENCH_KAFKA_URL=%s\n' "$KAFKA_URL" ;;
        ferretdb) printf 'WORKBENCH_MONGODB_URL=%s\n' "$MONGODB_URL" ;;
    esac
done
