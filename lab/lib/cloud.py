#!/usr/bin/python3
"""The lab admin's calls to its own cloud, each a single process on Debian's openstacksdk.

The openstack CLI spends seconds starting Python for every call, and `lab up` made dozens of them
(readiness checks, the admin's setup, forgetting an earlier host): one process per step is much
cheaper. Run inside the controller namespace with admin-openrc in the environment (os_cloud in
openstack.sh).

  cloud.py ready SERVICE            exit 0 when SERVICE answers (keystone glance nova neutron
                                    neutron-agents-BACKEND cinder-volume), 1 when not yet
  cloud.py bootstrap PUB_NET        m1 flavors, networks public + net1, router1, ssh and icmp in
                                    the admin project's default security group
  cloud.py image-source NAME        the novalab_source property of image NAME (empty: no image)
  cloud.py forget NAME ARCHIVE_LOG  what the cloud still knows of an earlier host NAME
  cloud.py forget-stack STACK_FILE  what an earlier `lab` stack made, by the names STACK_FILE declares
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import openstack
import yaml
from openstack import exceptions

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "policies"))
from m1_flavors import read_m1_flavors  # noqa: E402 - the m1 sizes' one source, and its one reader

# The controller's own agents per network backend (their binaries in neutron's agent list), all
# alive: its network node works. OVN's is the gateway chassis ("OVN Controller Gateway agent").
NETWORK_NODE = ("neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent")
CONTROLLER_AGENTS = {
    "linuxbridge": {"neutron-linuxbridge-agent", *NETWORK_NODE},
    "openvswitch": {"neutron-openvswitch-agent", *NETWORK_NODE},
    "ovn": {"ovn-controller"},
}
NET1_CIDR = "192.168.100.0/24"
NET1_DNS = "192.168.100.1"


def connect():
    return openstack.connect()  # the OS_* environment (admin-openrc)


def cinder_volume_up(conn) -> bool:
    # No block-storage services call in this openstacksdk: the API's own list.
    services = conn.block_storage.get("/os-services").json()["services"]
    return any(s["binary"] == "cinder-volume" and s["state"] == "up" for s in services)


READY = {
    "keystone": lambda conn: bool(conn.authorize()),
    "glance": lambda conn: list(conn.image.images(limit=1)) is not None,
    "nova": lambda conn: list(conn.compute.services()) is not None,
    "neutron": lambda conn: list(conn.network.networks(limit=1)) is not None,
    **{f"neutron-agents-{backend}": (lambda conn, want=want: want <= {a.binary for a in conn.network.agents() if a.is_alive})
       for backend, want in CONTROLLER_AGENTS.items()},
    "cinder-volume": cinder_volume_up,
}


def ready(service: str) -> int:
    try:
        return 0 if READY[service](connect()) else 1
    except (exceptions.SDKException, OSError):  # not answering (yet): the caller polls
        return 1


def ensure_subnet(conn, network, name: str, **attrs):
    subnet = conn.network.find_subnet(name, network_id=network.id)
    return subnet or conn.network.create_subnet(name=name, network_id=network.id, ip_version=4, **attrs)


def bootstrap(pub_net: str) -> int:
    """What the cloud admin had ready before the tutorial's chapter; each piece made when missing."""
    conn = connect()
    for m1 in read_m1_flavors():
        if conn.compute.find_flavor(m1.name) is None:
            conn.compute.create_flavor(name=m1.name, id=m1.id, ram=m1.ram_mb, disk=m1.disk_gb, vcpus=m1.vcpus,
                                       is_public=True)

    public = conn.network.find_network("public") or conn.network.create_network(
        name="public", is_router_external=True, is_shared=True,
        provider_network_type="flat", provider_physical_network="physnet1")
    ensure_subnet(conn, public, "public-subnet", cidr=f"{pub_net}.0/24", gateway_ip=f"{pub_net}.1",
                  is_dhcp_enabled=False, allocation_pools=[{"start": f"{pub_net}.100", "end": f"{pub_net}.200"}])
    net1 = conn.network.find_network("net1") or conn.network.create_network(name="net1")
    net1_subnet = ensure_subnet(conn, net1, "net1-subnet", cidr=NET1_CIDR, dns_nameservers=[NET1_DNS])

    router = conn.network.find_router("router1") or conn.network.create_router(
        name="router1", external_gateway_info={"network_id": public.id})
    attached = {ip["subnet_id"] for port in conn.network.ports(device_id=router.id) for ip in port.fixed_ips}
    if net1_subnet.id not in attached:
        conn.network.add_interface_to_router(router, subnet_id=net1_subnet.id)

    groups = list(conn.network.security_groups(project_id=conn.current_project_id, name="default"))
    if not groups:
        print("lab: the admin project has no default security group", file=sys.stderr)
        return 1
    rules = list(conn.network.security_group_rules(security_group_id=groups[0].id))
    for protocol, port in (("icmp", None), ("tcp", 22)):
        if not any(r.protocol == protocol for r in rules):
            ports = {"port_range_min": port, "port_range_max": port} if port else {}
            conn.network.create_security_group_rule(security_group_id=groups[0].id, direction="ingress",
                                                    ethertype="IPv4", protocol=protocol,
                                                    remote_ip_prefix="0.0.0.0/0", **ports)
    return 0


def image_source(name: str) -> int:
    image = connect().image.find_image(name)
    if image is not None:
        print((image.properties or {}).get("novalab_source", ""))
    return 0


def forget(name: str, archive_log: str) -> int:
    """An operator's clean-up before reusing a host name: its servers (their disks went with the old
    root), its compute service (with its compute node), nova's soft-deleted rows, its agents, and a
    placement provider of that name left without a compute node."""
    conn = connect()
    # The old host is gone. Forced down, nova deletes its servers itself: a delete cast to a compute
    # service that still looks up (its last heartbeat younger than service_down_time) waits for that
    # host forever. https://docs.openstack.org/nova/latest/admin/evacuate.html ("force down").
    for service in conn.compute.services(binary="nova-compute", host=name):
        conn.compute.update_service_forced_down(service, forced=True)
    servers = list(conn.compute.servers(all_projects=True, compute_host=name))
    for server in servers:
        conn.compute.delete_server(server)
    for server in servers:
        conn.compute.wait_for_delete(server, wait=300)
    for service in conn.compute.services(binary="nova-compute", host=name):
        conn.compute.delete_service(service)
    # nova joins a server to every service record of its host's name, soft-deleted ones included: the
    # new host's servers would be refused as "down" (409 on resize) until those rows are archived.
    # (It exits 1 when it archived something, 0 when there was nothing.)
    with open(archive_log, "a") as log:
        rc = subprocess.call(["setpriv", "--reuid=nova", "--regid=nova", "--init-groups", "nova-manage", "db",
                              "archive_deleted_rows", "--until-complete", "--all-cells"], stdout=log, stderr=log)
    if rc > 1:
        print(f"lab: {name}: nova-manage db archive_deleted_rows failed ({rc}, see {archive_log})", file=sys.stderr)
        return 1
    for agent in conn.network.agents(host=name):
        conn.network.delete_agent(agent)
    for provider in conn.placement.resource_providers(name=name):
        try:
            conn.placement.delete_resource_provider(provider)
        except exceptions.ConflictException:
            print(f"    {name}: placement provider {provider.id} is still in use; left alone", file=sys.stderr)
    return 0


def delete_volume_once_detached(conn, volume, timeout: float = 120) -> None:
    """A deleted server's volume is detached by nova shortly after: delete it once cinder lets us."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.block_storage.delete_volume(volume)
            return
        except exceptions.BadRequestException:  # still in-use / detaching
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def forget_stack(stack_file: str) -> int:
    """The lab's cloud outlives `lab down` and any stack's state: what an earlier `lab` stack made
    (another state directory, the tests' stack, a deleted .state/) is removed by the names the stack
    declares, so a new `lab` stack can create them. The lab admin cleaning its own test cloud:
    servers, their volumes, floating IPs on no port, the keypair, the stack's own flavors, EC2
    credentials."""
    with open(stack_file) as f:
        config = (yaml.safe_load(f) or {}).get("config", {})
    servers = {s["name"] for s in config.get("novalab:servers", [])}
    volumes = {v["name"] for s in config.get("novalab:servers", []) for v in s.get("volumes", [])}
    keypair = (config.get("novalab:keypair") or {}).get("name")
    flavors = {f["name"] for f in config.get("novalab:flavors", [])}
    conn = connect()
    removed = []
    doomed = [s for s in conn.compute.servers(all_projects=True) if s.name in servers]
    for server in doomed:
        conn.compute.delete_server(server)
    for server in doomed:
        conn.compute.wait_for_delete(server, wait=300)
        removed.append(f"server {server.name}")
    for volume in conn.block_storage.volumes(all_projects=True):
        if volume.name in volumes:
            delete_volume_once_detached(conn, volume)
            removed.append(f"volume {volume.name}")
    for ip in conn.network.ips(project_id=conn.current_project_id):
        if not ip.port_id:
            conn.network.delete_ip(ip)
            removed.append(f"floating IP {ip.floating_ip_address}")
    if keypair and conn.compute.find_keypair(keypair) is not None:
        conn.compute.delete_keypair(keypair)
        removed.append(f"keypair {keypair}")
    for flavor in conn.compute.flavors():
        if flavor.name in flavors:
            conn.compute.delete_flavor(flavor)
            removed.append(f"flavor {flavor.name}")
    for credential in conn.identity.credentials(user_id=conn.current_user_id, type="ec2"):
        conn.identity.delete_credential(credential)
        removed.append("EC2 credentials")
    if removed:
        print("    the lab's cloud still held what an earlier lab stack made; removed: " + ", ".join(removed),
              file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    commands = {"ready": (ready, 1), "bootstrap": (bootstrap, 1), "image-source": (image_source, 1), "forget": (forget, 2),
                "forget-stack": (forget_stack, 1)}
    if not argv or argv[0] not in commands or len(argv) - 1 != commands[argv[0]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    command, _ = commands[argv[0]]
    return command(*argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
