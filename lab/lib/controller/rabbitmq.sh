# shellcheck shell=bash
# rabbitmq: the message bus, user `openstack`. The namespace isolates its ports (5672, 25672, epmd
# 4369): only lo and $CTL_IP exist there.

RABBIT_ENV=(env HOME=/var/lib/rabbitmq RABBITMQ_NODENAME=rabbit@localhost "RABBITMQ_NODE_IP_ADDRESS=$CTL_IP"
  "RABBITMQ_LOG_BASE=$LAB_LOGS/rabbitmq" RABBITMQ_MNESIA_BASE=/var/lib/rabbitmq/mnesia)
# Not --quiet: RabbitMQ 4.0's add_user then waits for ever instead of reading the password on stdin.
rabbitmqctl() { as_user rabbitmq "${RABBIT_ENV[@]}" /usr/sbin/rabbitmqctl "$@"; }

rabbitmq_up() {
  ctl_dirs rabbitmq "$LAB_LOGS/rabbitmq"
  # Erlang's port mapper, started here with a PID file: left to rabbitmq, it detaches from it and
  # only a kill by name would find it again.
  daemon epmd rabbitmq "$CTL_NS" /usr/bin/epmd
  wait_for epmd 20 "$LAB_LOGS/epmd.out" in_ctl /usr/bin/epmd -names
  daemon rabbitmq rabbitmq "$CTL_NS" "${RABBIT_ENV[@]}" /usr/sbin/rabbitmq-server
  wait_for rabbitmq 90 "$LAB_LOGS/rabbitmq.log" rabbitmqctl await_startup
  # Without a password argument rabbitmqctl reads it from stdin (kept out of the process list).
  secret rabbit | rabbitmqctl add_user openstack >/dev/null 2>&1 \
    || secret rabbit | rabbitmqctl change_password openstack >/dev/null
  rabbitmqctl set_permissions openstack '.*' '.*' '.*' >/dev/null
}
