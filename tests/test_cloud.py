"""The tutorial's "Testing OpenStack" resources under Pulumi mocks, and their config checks."""

from __future__ import annotations

import pulumi
import pytest

from components.servers import guest_disk_path
from support.mocks import (
    PUBLIC_KEY, SECRETS, Recorder, cloud_id, config_problems, deploy, dev_config, is_secret, resolved,
)


@pytest.fixture(scope="module")
def dev():
    return deploy(dev_config())


def server_cfg(**kw):
    base = {"name": "server-1", "image": "cirros-0.3.0", "flavor": "m1.tiny", "network": "net1"}
    base.update(kw)
    return base


def test_x1_tiny_is_created_exactly_as_the_tutorial(dev):
    (flavor,) = dev.mocks.of_type("openstack:compute/flavor:Flavor")
    i = flavor.inputs
    assert flavor.name == "x1.tiny"
    assert (i["name"], i["flavorId"], i["ram"], i["disk"], i["vcpus"], i["isPublic"]) == ("x1.tiny", "6", 256, 2, 1, True)
    assert (i["ephemeral"], i["swap"], i["rxTxFactor"]) == (0, 0, 1.0)
    assert dev.monitor.parent_of("x1.tiny") == "flavors"


def test_keypair_uploads_the_configured_public_key(dev):
    (kp,) = dev.mocks.of_type("openstack:compute/keypair:Keypair")
    assert kp.inputs == {"name": "gridka-api-node", "publicKey": PUBLIC_KEY}


def test_server_1_is_wired_as_nova_boot(dev):
    inst = dev.mocks.named("server-1-instance")
    assert inst.typ == "openstack:compute/instance:Instance"
    i = inst.inputs
    assert i["imageName"] == "cirros-0.3.0"
    assert i["flavorName"] == "m1.tiny" and "flavorId" not in i  # looked up by name: no API call in preview
    assert i["keyPair"] == "gridka-api-node"
    assert i["securityGroups"] == ["default"]
    assert i["networks"] == [{"name": "net1"}]
    assert dev.monitor.parent_of("server-1-instance") == "server-1"


def test_server_boots_only_after_every_compute_host_gate():
    d = deploy(dev_config(computeHosts=[
        {"name": f"compute-{n}", "address": f"10.0.0.{19 + n}", "bridgeInterface": "eth2", "virtType": "qemu"} for n in (1, 2)
    ]))
    inst = [r for r in d.mocks.of_type("openstack:compute/instance:Instance")][0]
    assert {"compute-1-gate", "compute-2-gate"} <= d.monitor.depends_on(inst.name)


def test_floating_ip_from_the_pool_is_associated_to_the_servers_port(dev):
    (fip,) = dev.mocks.of_type("openstack:networking/floatingIp:FloatingIp")
    assert fip.inputs == {"pool": "public"}
    (assoc,) = dev.mocks.of_type("openstack:networking/floatingIpAssociate:FloatingIpAssociate")
    # The provider leaves networks[].port empty for a network given by name (seen on the lab: the
    # floating IP was "associated" to no port), so the program looks the server's port up.
    (lookup,) = [c for c in dev.mocks.calls if c.token == "openstack:networking/getPort:getPort"]
    assert lookup.args == {"deviceId": cloud_id("server-1-instance"), "fixedIp": "192.168.100.10"}
    assert assoc.inputs == {"floatingIp": "172.16.1.1", "portId": cloud_id("port of server-1-instance")}
    assert {"server-1-instance", "server-1-fip"} <= dev.monitor.depends_on("server-1-fip-assoc")


def test_volume_test2_is_protected_and_attached_on_vdb(dev):
    (vol,) = dev.mocks.of_type("openstack:blockstorage/volume:Volume")
    assert vol.inputs == {"name": "test2", "size": 1}
    assert dev.monitor.requests["test2"].protect is True
    attach = dev.mocks.named("server-1-test2-attach")
    assert attach.inputs == {"instanceId": cloud_id("server-1-instance"), "volumeId": "0123456789abcdef0123-test2", "device": "/dev/vdb"}


def test_unprotected_volume_when_asked():
    d = deploy(dev_config(servers=[server_cfg(volumes=[{"name": "scratch", "sizeGb": 2, "protect": False}])]))
    assert d.monitor.requests["scratch"].protect is False
    assert "device" not in d.mocks.named("server-1-scratch-attach").inputs


def test_outputs_a_user_needs(dev):
    out = dev.result["outputs"]
    s = out["servers"]["server-1"]
    assert resolved(s["fixedIp"]) == "192.168.100.10"
    assert resolved(s["floatingIp"]) == "172.16.1.1"
    assert resolved(s["ssh"]) == "ssh -i ~/.ssh/gridka-api-node root@172.16.1.1"
    assert resolved(s["volumes"]["test2"]["guestPath"]) == "/dev/disk/by-id/virtio-0123456789abcdef0123"
    assert resolved(s["volumes"]["test2"]["device"]) == "/dev/vdb"
    assert resolved(out["keypair"]["fingerprint"]) == "fa:86:74:77"
    assert resolved(out["flavors"]["x1.tiny"]) == "6"  # nova's id of a flavor created with id 6


def test_guest_disk_path_uses_the_first_20_characters():
    assert guest_disk_path("180a081a-065b-497e-998d-aa32c7c295cc") == "/dev/disk/by-id/virtio-180a081a-065b-497e-9"


def test_ec2_credentials_secret_key_is_a_secret(dev):
    out = dev.result["outputs"]
    assert resolved(out["ec2AccessKey"]) == "ec2-access-key"
    assert is_secret(out["ec2SecretKey"]) and resolved(out["ec2SecretKey"]) == "ec2-secret-key"
    assert len(dev.mocks.of_type("openstack:identity/ec2CredentialV3:Ec2CredentialV3")) == 1


def test_no_ec2_credentials_unless_asked():
    d = deploy(dev_config(ec2Credentials=False))
    assert d.mocks.of_type("openstack:identity/ec2CredentialV3:Ec2CredentialV3") == []


def test_generated_keypair_exports_the_private_key_as_a_secret():
    d = deploy(dev_config(keypair={"name": "generated"}))
    (kp,) = d.mocks.of_type("openstack:compute/keypair:Keypair")
    assert "publicKey" not in kp.inputs
    out = d.result["outputs"]
    assert is_secret(out["keypairPrivateKey"])
    assert "PRIVATE KEY" in resolved(out["keypairPrivateKey"])


def test_public_key_from_a_file(tmp_path):
    pub = tmp_path / "id.pub"
    pub.write_text(PUBLIC_KEY + "\n")
    d = deploy(dev_config(keypair={"name": "k", "publicKeyPath": str(pub)}))
    assert d.mocks.of_type("openstack:compute/keypair:Keypair")[0].inputs["publicKey"] == PUBLIC_KEY


def test_a_private_key_given_as_public_key_path_is_refused(tmp_path):
    key = tmp_path / "id"
    key.write_text(SECRETS["novalab:sshPrivateKey"])
    with pytest.raises(pulumi.RunError) as exc:
        deploy(dev_config(keypair={"name": "k", "publicKeyPath": str(key)}))
    assert "is not an OpenSSH public key" in str(exc.value)
    assert "test-key-material" not in str(exc.value)


def test_created_flavor_is_referenced_by_id_and_resize_is_a_flavor_change():
    before = deploy(dev_config())
    after = deploy(dev_config(servers=[server_cfg(flavor="x1.tiny", volumes=[{"name": "test2", "sizeGb": 1, "device": "/dev/vdb"}], floatingIpPool="public")]))
    a, b = before.mocks.named("server-1-instance").inputs, after.mocks.named("server-1-instance").inputs
    assert b["flavorId"] == "6" and "flavorName" not in b
    # Only the flavor differs: the provider resizes in place (same server), nothing else changes.
    assert {k for k in set(a) | set(b) if a.get(k) != b.get(k)} == {"flavorId", "flavorName"}


def test_ignore_resize_confirmation_for_clouds_that_auto_confirm():
    d = deploy(dev_config(servers=[server_cfg(ignoreResizeConfirmation=True)]))
    assert d.mocks.named("server-1-instance").inputs["vendorOptions"] == {"ignoreResizeConfirmation": True}


def test_adopted_m1_flavor_is_imported_and_kept_on_destroy():
    d = deploy(dev_config(adoptFlavors=[{"name": "m1.tiny", "id": "1"}]))
    req = d.monitor.requests["m1.tiny"]
    assert req.importId == "1"
    assert req.retainOnDelete is True
    f = d.mocks.named("m1.tiny").inputs
    assert (f["ram"], f["disk"], f["vcpus"], f["flavorId"]) == (512, 1, 1, "1")
    assert d.mocks.named("server-1-instance").inputs["flavorId"] == "1"  # the adopted flavor's id


def test_known_flavors_are_never_created():
    d = deploy(dev_config())
    names = {r.name for r in d.mocks.of_type("openstack:compute/flavor:Flavor")}
    assert names == {"x1.tiny"}


def test_preview_registers_the_same_resources_without_lookups(dev):
    d = deploy(dev_config(), preview=True)
    assert sorted((r.typ, r.name) for r in d.mocks.resources) == sorted((r.typ, r.name) for r in dev.mocks.resources)
    assert d.mocks.calls == []  # no invoke (data-source lookup) in the preview path


# --- config checks for the cloud part: all reported at once, before any resource ---------------


def test_unknown_flavor_duplicates_sizes_and_devices_all_at_once():
    cfg = dev_config(
        flavors=[
            {"name": "x1.tiny", "id": "6", "ramMb": 0, "diskGb": -1, "vcpus": 1},
            {"name": "x1.tiny", "id": "6", "ramMb": 256, "diskGb": 2, "vcpus": 0},
        ],
        servers=[
            server_cfg(flavor="m9.huge", volumes=[{"name": "v", "sizeGb": 0, "device": "/dev/sdb"}]),
            server_cfg(),
        ],
    )
    problems = config_problems(cfg)
    joined = "\n".join(problems)
    assert "flavors[0].ramMb: Input should be greater than 0" in joined
    assert "flavors[0].diskGb: Input should be greater than or equal to 0" in joined
    assert "flavors[1].vcpus: Input should be greater than 0" in joined
    assert "servers[0].volumes[0].sizeGb: Input should be greater than 0" in joined
    assert "servers[0].volumes[0].device: '/dev/sdb' is not a virtio disk device" in joined
    assert "flavors: flavor name 'x1.tiny' is used by entries [0, 1]" in joined
    assert "flavors: flavor id '6' is used by entries [0, 1]" in joined
    assert "servers: server name 'server-1' is used by entries [0, 1]" in joined
    assert "servers[0].flavor: unknown flavor 'm9.huge'" in joined and "knownFlavors" in joined


def test_adopting_and_creating_the_same_flavor_is_an_error():
    cfg = dev_config(adoptFlavors=[{"name": "x1.tiny", "id": "6", "ramMb": 256, "diskGb": 2, "vcpus": 1}])
    problems = config_problems(cfg)
    assert any(p.startswith("adoptFlavors[0].name: 'x1.tiny' is also under flavors") for p in problems)
    assert any(p.startswith("flavors[0].id: id '6' belongs to an adopted flavor") for p in problems)


def test_adopting_a_non_m1_flavor_needs_its_sizes():
    problems = config_problems(dev_config(adoptFlavors=[{"name": "c1.big", "id": "42"}]))
    assert any(p.startswith("adoptFlavors[0]") and "ramMb, diskGb and vcpus" in p for p in problems)


def test_servers_need_a_keypair():
    problems = config_problems(dev_config(keypair=None))
    assert any(p.startswith("keypair: servers are declared but no keypair") for p in problems)


def test_bad_cloud_config_registers_nothing():
    mocks = Recorder()
    with pytest.raises(pulumi.RunError, match=r"servers\[0\]\.flavor: unknown flavor 'nope'"):
        deploy(dev_config(servers=[server_cfg(flavor="nope")]), mocks=mocks)
    assert mocks.resources == []


def test_the_port_lookup_is_answered_only_for_its_own_server_and_address():
    # The mock cloud answers getPort as the provider does: by every filter, or not at all.
    d = deploy(dev_config())
    (port,) = d.mocks.ports
    assert port["deviceId"] == cloud_id("server-1-instance") == d.mocks.named("server-1-test2-attach").inputs["instanceId"]
    for wrong in ({"deviceId": cloud_id("other")}, {"deviceId": port["deviceId"], "fixedIp": "192.168.100.99"}):
        with pytest.raises(Exception, match="no result"):
            d.mocks.call(pulumi.runtime.MockCallArgs("openstack:networking/getPort:getPort", wrong, ""))
