#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Print the state, client URL and memory use of each server that start.sh manages.
#
# Usage: scripts/services/status.sh [rabbitmq|kafka|ferretdb|all]...
#
# A server counts as up only when its process runs and it passes one check.py round
# trip. Exits 0 when every requested server is up and 1 otherwise.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$SERVICES_SCRIPT_DIR/rabbitmq.sh"
source "$SERVICES_SCRIPT_DIR/kafka.sh"
source "$SERVICES_SCRIPT_DIR/ferretdb.sh"

parse_services "$@"

down=0
python_checked=0
for service in "${REQUESTED_SERVICES[@]}"; do
    url="$(service_url "$service")"

    if ! "${service}_running"; then
        printf '%-9s stopped    %s\n' "$service" "$url"
        down=1
        continue
    fi

    if [ "$python_checked" -eq 0 ]; then
        ensure_check_python
        python_checked=1
    fi

    pid="$("${service}_pid")"
    if check_output="$(run_check "$service" "$url" 2>&1)"; then
        printf '%-9s running    %s  pid %s, %s\n' "$service" "$url" "$pid" "$("${service}_memory")"
    else
        printf '%-9s unhealthy  %s  pid %s: %s\n' "$service" "$url" "$pid" "$check_output"
        down=1
    fi
done

exit "$down"
