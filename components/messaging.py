"""What `services.rabbitQueues` means in the files of every service a compute node runs: the
`[oslo_messaging_rabbit]` options of nova.conf and the network agents' files (pure, for the renderers).

All services on one RabbitMQ vhost must declare the same queue types. `classic` is oslo.messaging's
own default and what novalab rendered before the key existed (nothing); `quorum` is what kolla-ansible
(om_enable_rabbitmq_quorum_queues, om_enable_rabbitmq_transient_quorum_queue, om_enable_queue_manager)
and OpenStack-Ansible set on 2024.1 and later, and what RabbitMQ 4.0 expects: it deprecates the
transient non-exclusive classic queues oslo.messaging declares by default.
https://docs.openstack.org/oslo.messaging/latest/configuration/opts.html
"""

from __future__ import annotations

RABBIT_QUEUES = ("classic", "quorum")
SECTION = "oslo_messaging_rabbit"


def rabbit_queue_options(queues: str) -> list[tuple[str, str]]:
    """The [oslo_messaging_rabbit] options for `services.rabbitQueues`, in file order."""
    if queues == "classic":
        return []
    if queues == "quorum":
        return [
            ("rabbit_quorum_queue", "true"),  # durable queues are quorum queues
            ("rabbit_transient_quorum_queue", "true"),  # and so are the reply and fanout queues
            ("use_queue_manager", "true"),  # stable queue names across restarts, not uuid4 ones
        ]
    raise ValueError(f"rabbitQueues must be one of {', '.join(RABBIT_QUEUES)}")
