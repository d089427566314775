#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Stop the servers that start.sh started.
#
# Usage: scripts/services/stop.sh [rabbitmq|kafka|ferretdb|all]...
#
# Stops only the processes whose PIDs start.sh wrote under WORKBENCH_SERVICES_DIR,
# and only while each PID still runs the expected program. Sends SIGTERM, waits up
# to WORKBENCH_SERVICES_STOP_TIMEOUT seconds (default 60) for the process to exit,
# then sends SIGKILL. Data and logs are kept for the next start.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$SERVICES_SCRIPT_DIR/rabbitmq.sh"
source "$SERVICES_SCRIPT_DIR/kafka.sh"
source "$SERVICES_SCRIPT_DIR/ferretdb.sh"

parse_services "$@"

if [ ! -d "$SERVICES_DIR" ]; then
    log "nothing to stop: $SERVICES_DIR does not exist"
    exit 0
fi

lock_services_dir 300

# Reverse order, so that servers stop in the opposite order of start.sh.
for ((index = ${#REQUESTED_SERVICES[@]} - 1; index >= 0; index--)); do
    service="${REQUESTED_SERVICES[$index]}"
    if ! "${service}_running"; then
        log "$service is not running"
    fi
    # Runs in both cases, because it also stops helper processes (epmd) and removes
    # stale PID files of a server that died.
    "${service}_stop"
done
