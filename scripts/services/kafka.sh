# shellcheck shell=bash
# A single-node Apache Kafka broker and KRaft controller, run from the jars that
# kafka/pom.xml resolves from Maven Central. Source it after common.sh.
#
# Listeners, both on 127.0.0.1: clients on KAFKA_PORT and the KRaft controller on
# KAFKA_CONTROLLER_PORT.

KAFKA_STATE="$SERVICES_DIR/kafka"
KAFKA_LIB="$KAFKA_STATE/lib"
KAFKA_POM="$SERVICES_SCRIPT_DIR/kafka/pom.xml"
KAFKA_LOG4J_CONFIG="$SERVICES_SCRIPT_DIR/kafka/log4j2.properties"
KAFKA_PROPERTIES="$KAFKA_STATE/server.properties"
KAFKA_PID_FILE="$KAFKA_STATE/kafka.pid"
KAFKA_OUT="$KAFKA_STATE/logs/kafka.out"
# Matches only the broker that start.sh launched with this state folder's configuration.
KAFKA_PROCESS_PATTERN="kafka.Kafka $KAFKA_PROPERTIES"
KAFKA_HEAP="${KAFKA_HEAP_OPTS:--Xms512m -Xmx512m}"

kafka_java() {
    if [ -n "${JAVA_HOME:-}" ]; then
        printf '%s\n' "$JAVA_HOME/bin/java"
    else
        printf 'java\n'
    fi
}

# Install Java and Maven when either is missing, and fail unless Java is 17 or newer,
# which Kafka 4 brokers need.
kafka_require_tools() {
    local java
    java="$(kafka_java)"

    if ! command -v "$java" >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
        apt_install openjdk-17-jdk-headless maven
    fi

    local version
    version="$("$java" -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $2}')"
    case "$version" in
        '' | 1.* | 9 | 1[0-6])
            die "Kafka needs Java 17 or newer, but $java is Java ${version:-of unknown version}. Set JAVA_HOME to a JDK 17+."
            ;;
    esac
}

# Copy the Kafka jars into KAFKA_LIB, unless they already match kafka/pom.xml.
kafka_install() {
    local pom_hash
    pom_hash="$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"
    if [ -f "$KAFKA_LIB/.pom.sha256" ] && [ "$(cat "$KAFKA_LIB/.pom.sha256")" = "$pom_hash" ]; then
        return 0
    fi

    kafka_require_tools
    mkdir -p "$KAFKA_STATE/logs"
    log "resolving the Kafka jars from Maven Central into $KAFKA_LIB (log: $KAFKA_STATE/logs/maven.log)"

    local started_at=$SECONDS
    # Resolve into a new folder and swap it in, so that a failed run leaves no mix of versions.
    rm -rf "$KAFKA_LIB.new"
    if ! mvn -B --no-transfer-progress -f "$KAFKA_POM" \
        dependency:copy-dependencies -DoutputDirectory="$KAFKA_LIB.new" \
        >"$KAFKA_STATE/logs/maven.log" 2>&1; then
        show_logs "$KAFKA_STATE/logs/maven.log"
        die "mvn dependency:copy-dependencies failed for $KAFKA_POM. See $KAFKA_STATE/logs/maven.log"
    fi

    printf '%s\n' "$pom_hash" >"$KAFKA_LIB.new/.pom.sha256"
    rm -rf "$KAFKA_LIB"
    mv "$KAFKA_LIB.new" "$KAFKA_LIB"
    log "resolved the Kafka jars in $((SECONDS - started_at))s"
}

kafka_write_config() {
    mkdir -p "$KAFKA_STATE/data" "$KAFKA_STATE/logs"

    cat >"$KAFKA_PROPERTIES" <<EOF
# Written by scripts/services/start.sh on every start, so edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_STATE/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# No metrics reporters, so no client-telemetry receiver either.
metric.reporters=
EOF
}

# Format the log directory once, with a cluster id that is generated once and kept.
kafka_format() {
    [ -f "$KAFKA_STATE/data/meta.properties" ] && return 0

    local java
    java="$(kafka_java)"

    if [ ! -s "$KAFKA_STATE/cluster-id" ]; then
        "$java" -cp "$KAFKA_LIB/*" kafka.tools.StorageTool random-uuid >"$KAFKA_STATE/cluster-id.new" ||
            die "kafka.tools.StorageTool random-uuid failed"
        mv "$KAFKA_STATE/cluster-id.new" "$KAFKA_STATE/cluster-id"
    fi

    log "formatting the Kafka log directory $KAFKA_STATE/data"
    # Without the broker's log4j configuration, so that the tool's messages go to
    # format.log rather than into the broker's server.log.
    if ! "$java" -cp "$KAFKA_LIB/*" kafka.tools.StorageTool format \
        --cluster-id "$(cat "$KAFKA_STATE/cluster-id")" --config "$KAFKA_PROPERTIES" \
        >"$KAFKA_STATE/logs/format.log" 2>&1; then
        show_logs "$KAFKA_STATE/logs/format.log"
        die "kafka.tools.StorageTool format failed. See $KAFKA_STATE/logs/format.log"
    fi
}

kafka_running() {
    pid_file_alive "$KAFKA_PID_FILE" "$KAFKA_PROCESS_PATTERN"
}

kafka_start() {
    if kafka_running; then
        log "kafka is already running (pid $(read_pid "$KAFKA_PID_FILE")); checking it"
        return 0
    fi
    rm -f "$KAFKA_PID_FILE"

    kafka_install
    kafka_require_tools
    require_port_free "$KAFKA_PORT" WORKBENCH_KAFKA_PORT
    require_port_free "$KAFKA_CONTROLLER_PORT" WORKBENCH_KAFKA_CONTROLLER_PORT
    kafka_write_config
    kafka_format

    log "starting kafka on 127.0.0.1:$KAFKA_PORT (logs: $KAFKA_STATE/logs)"
    local heap=()
    read -r -a heap <<<"$KAFKA_HEAP"
    spawn_detached "$KAFKA_OUT" "$KAFKA_PID_FILE" \
        "$(kafka_java)" "${heap[@]}" \
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
        -Djava.net.preferIPv4Stack=true \
        -Dlog4j2.configurationFile="$KAFKA_LOG4J_CONFIG" \
        -Dkafka.logs.dir="$KAFKA_STATE/logs" \
        -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_PROPERTIES"
}

kafka_pid() {
    read_pid "$KAFKA_PID_FILE"
}

kafka_logs() {
    printf '%s\n' "$KAFKA_OUT" "$KAFKA_STATE/logs/server.log"
}

kafka_memory() {
    printf 'JVM RSS %s (heap %s)\n' "$(rss_mib "$(kafka_pid)")" "$KAFKA_HEAP"
}

kafka_stop() {
    stop_pid_file "$KAFKA_PID_FILE" "$KAFKA_PROCESS_PATTERN" kafka
}
