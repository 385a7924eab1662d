#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft: broker and controller in one JVM)
# for streamcast's tests and benchmarks, listening on 127.0.0.1 only.
#
#   scripts/kafka.sh fetch                 copy the broker's jars from Maven Central, once
#   scripts/kafka.sh start [options]       format the storage if new, start, wait until it accepts clients
#   scripts/kafka.sh stop  [options]       stop it (SIGTERM, then SIGKILL after 30 s)
#   scripts/kafka.sh status [options]      exit 0 and print the pid if it runs, else exit 1
#
# Options: --port P (client listener, default 19092), --controller-port Q
# (default P+1), --dir D (data, config, pid and log; default
# .cache/kafka/broker-P), --advertised-port A (the port the broker tells
# clients to use, default P: a test puts a TCP proxy there), --direct-port R
# (a second listener on R that advertises itself: clients that bootstrap
# there bypass the proxy), --sasl-port S (a SASL_PLAINTEXT listener: user
# streamcast, password streamcast-secret, by PLAIN, SCRAM-SHA-256 or -512),
# --tls-port T (an SSL listener with a self-signed certificate for 127.0.0.1,
# whose PEM is D/tls/ca.pem).
# Every command is idempotent: start on a running broker and stop on a
# stopped one succeed at once. The log is D/broker.log, the pid D/broker.pid.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${STREAMCAST_KAFKA_CACHE:-$ROOT/.cache/kafka}
LIBS=$CACHE/libs
HEAP=${STREAMCAST_KAFKA_HEAP:-512m}

command=${1:-}
[ $# -gt 0 ] && shift
port=19092 controller_port="" dir="" advertised_port="" direct_port="" sasl_port="" tls_port=""
while [ $# -gt 0 ]; do
  case $1 in
    --port) port=$2; shift 2 ;;
    --controller-port) controller_port=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --advertised-port) advertised_port=$2; shift 2 ;;
    --direct-port) direct_port=$2; shift 2 ;;
    --sasl-port) sasl_port=$2; shift 2 ;;
    --tls-port) tls_port=$2; shift 2 ;;
    *) echo "kafka.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
controller_port=${controller_port:-$((port + 1))}
advertised_port=${advertised_port:-$port}
dir=${dir:-$CACHE/broker-$port}

fetch() {
  [ -f "$LIBS/.complete" ] && return 0
  mkdir -p "$CACHE"
  exec 8>"$CACHE/fetch.lock"
  flock -w 600 8
  [ -f "$LIBS/.complete" ] && return 0
  echo "kafka.sh: fetching Apache Kafka's jars from Maven Central into $LIBS" >&2
  rm -rf "$LIBS.partial"
  mvn -q -B -Dstyle.color=never -f "$ROOT/scripts/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS.partial" >&2
  rm -rf "$LIBS"
  mv "$LIBS.partial" "$LIBS"
  touch "$LIBS/.complete"
}

pid_of() {
  local pid
  pid=$(cat "$dir/broker.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

configure() {
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port"
  local advertised="PLAINTEXT://127.0.0.1:$advertised_port"
  if [ -n "$direct_port" ]; then
    listeners="$listeners,DIRECT://127.0.0.1:$direct_port"
    advertised="$advertised,DIRECT://127.0.0.1:$direct_port"
  fi
  if [ -n "$sasl_port" ]; then
    listeners="$listeners,SASL://127.0.0.1:$sasl_port"
    advertised="$advertised,SASL://127.0.0.1:$sasl_port"
  fi
  if [ -n "$tls_port" ]; then
    certificate
    listeners="$listeners,TLS://127.0.0.1:$tls_port"
    advertised="$advertised,TLS://127.0.0.1:$tls_port"
  fi
  cat >"$dir/server.properties" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=$listeners
advertised.listeners=$advertised
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,DIRECT:PLAINTEXT,SASL:SASL_PLAINTEXT,TLS:SSL
listener.name.tls.ssl.keystore.location=$dir/tls/broker.p12
listener.name.tls.ssl.keystore.password=streamcast
listener.name.tls.ssl.keystore.type=PKCS12
listener.name.sasl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_streamcast="streamcast-secret";
listener.name.sasl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.ms=3600000
log.segment.bytes=16777216
auto.create.topics.enable=true
PROPERTIES
}

# A self-signed certificate for 127.0.0.1, once per broker folder.
certificate() {
  [ -f "$dir/tls/ca.pem" ] && return 0
  mkdir -p "$dir/tls"
  rm -f "$dir/tls/broker.p12"
  keytool -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity 3650 -storetype PKCS12 \
    -keystore "$dir/tls/broker.p12" -storepass streamcast -keypass streamcast \
    -dname "CN=127.0.0.1" -ext "SAN=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1
  keytool -exportcert -rfc -alias broker -keystore "$dir/tls/broker.p12" -storepass streamcast \
    -file "$dir/tls/ca.pem.partial" >/dev/null 2>&1
  mv "$dir/tls/ca.pem.partial" "$dir/tls/ca.pem"
}

format() {
  [ -f "$dir/data/meta.properties" ] && return 0
  local id
  # A cluster id is 16 random bytes, base64url; one that starts with '-' reads as an option.
  id=-
  while [[ $id == -* ]]; do id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'); done
  java -Xmx256m -cp "$LIBS/*" -Dlog4j.configuration="file:$ROOT/scripts/kafka/log4j.properties" \
    kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" \
    --add-scram 'SCRAM-SHA-256=[name=streamcast,password=streamcast-secret]' \
    --add-scram 'SCRAM-SHA-512=[name=streamcast,password=streamcast-secret]' >"$dir/format.log" 2>&1 || {
    cat "$dir/format.log" >&2
    return 1
  }
}

start() {
  fetch
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  flock -w 120 9
  if pid=$(pid_of) && accepts; then
    echo "kafka.sh: broker already running on 127.0.0.1:$port (pid $pid)"
    return 0
  fi
  if accepts; then
    echo "kafka.sh: port $port is taken by another process" >&2
    return 1
  fi
  configure
  format
  # Class data sharing saves about a third of the startup: the first broker
  # to stop leaves an archive of the classes it loaded for the next ones.
  local cds="-XX:ArchiveClassesAtExit=$dir/classes.jsa"
  [ -f "$CACHE/classes.jsa" ] && cds="-XX:SharedArchiveFile=$CACHE/classes.jsa"
  # shellcheck disable=SC2086 # extra options are words
  setsid nohup java -Xms128m "-Xmx$HEAP" $cds ${STREAMCAST_KAFKA_JAVA_OPTS:-} -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$ROOT/scripts/kafka/log4j.properties" \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" >"$dir/broker.log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$dir/broker.pid"
  local deadline=$((SECONDS + ${STREAMCAST_KAFKA_START_TIMEOUT:-90}))
  until grep -q "Kafka Server started" "$dir/broker.log" 2>/dev/null && accepts; do
    if ! pid_of >/dev/null; then
      echo "kafka.sh: the broker exited while starting; its log ($dir/broker.log) ends with:" >&2
      tail -n 30 "$dir/broker.log" >&2
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "kafka.sh: the broker did not start within ${STREAMCAST_KAFKA_START_TIMEOUT:-90} s; see $dir/broker.log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "kafka.sh: broker running on 127.0.0.1:$port (pid $(cat "$dir/broker.pid"), dir $dir)"
}

stop() {
  local pid
  if ! pid=$(pid_of); then
    rm -f "$dir/broker.pid"
    echo "kafka.sh: no broker running in $dir"
    return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$dir/broker.pid"
  [ -f "$dir/classes.jsa" ] && mv -n "$dir/classes.jsa" "$CACHE/classes.jsa"
  echo "kafka.sh: broker stopped (pid $pid)"
}

status() {
  local pid
  if pid=$(pid_of) && accepts; then
    echo "kafka.sh: broker running on 127.0.0.1:$port (pid $pid, dir $dir)"
  else
    echo "kafka.sh: no broker running on 127.0.0.1:$port (dir $dir)"
    return 1
  fi
}

case $command in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: scripts/kafka.sh fetch|start|stop|status [--port P] [--controller-port Q] [--dir D] [--advertised-port A] [--direct-port R] [--sasl-port S] [--tls-port T]" >&2; exit 2 ;;
esac
