"""nova's SSH between compute hosts (novaMigrationSshKey): resize and cold migration copy a server's
disk from host to host over it, as user nova. One key on every host, so adding a host touches no
other; changing it restarts nothing."""

from __future__ import annotations

import base64
import subprocess

import pytest

from components.render import NOVA_SSH_DIR, openssh_public_key
from support.mocks import config_problems, deploy, dev_config, fake_pem, reveal, unwrap


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Real keys made by ssh-keygen: the public half it prints is what the program must derive."""
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for kind in ("ed25519", "rsa"):
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "c", "-f", str(d / kind)], check=True)
        out[kind] = ((d / kind).read_text(), " ".join((d / f"{kind}.pub").read_text().split()[:2]))
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "a-passphrase", "-f", str(d / "locked")], check=True)
    out["locked"] = ((d / "locked").read_text(), "")
    return out


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_the_public_half_is_what_ssh_keygen_says(keys, kind):
    private, public = keys[kind]
    assert openssh_public_key(private) == public


def test_a_passphrase_protected_or_foreign_key_is_a_config_error_without_its_text(keys):
    locked = keys["locked"][0]
    problems = config_problems(dev_config(novaMigrationSshKey=locked))
    assert any(p.startswith("novaMigrationSshKey: the OpenSSH private key has a passphrase") for p in problems)
    pem = fake_pem("RSA", "MIIB")
    problems = config_problems(dev_config(novaMigrationSshKey=pem))
    assert any("novaMigrationSshKey: not an OpenSSH private key" in p for p in problems)
    assert not any("MIIB" in p or "PRIVATE KEY-----\n" in p for p in problems)


def bundle_of(deployment, host: str) -> dict[str, tuple[str, str, str, str]]:
    stdin, secret = unwrap(deployment.mocks.named(f"{host}-config").inputs["stdin"])
    assert secret
    files = {}
    for line in stdin.splitlines():
        path, owner, group, mode, data = line.split()
        files[path] = (owner, group, mode, base64.b64decode(data).decode())
    return files


def test_every_host_gets_the_key_its_public_half_and_nova_ssh_config(keys):
    private, public = keys["ed25519"]
    d = deploy(dev_config(novaMigrationSshKey=private))
    files = bundle_of(d, "compute-1")
    assert files[f"{NOVA_SSH_DIR}/id_novalab_migration"] == ("nova", "nova", "0600", private)
    owner, group, mode, text = files[f"{NOVA_SSH_DIR}/authorized_keys"]
    assert (owner, group, mode) == ("nova", "nova", "0600") and text.startswith(public + " ")
    assert f"IdentityFile {NOVA_SSH_DIR}/id_novalab_migration" in files[f"{NOVA_SSH_DIR}/config"][3]


def test_without_the_key_no_nova_ssh_files_are_written():
    files = bundle_of(deploy(dev_config()), "compute-1")
    assert not [p for p in files if p.startswith(NOVA_SSH_DIR)]


def test_changing_the_key_rewrites_the_files_but_restarts_nothing(keys):
    def restarts(key: str) -> list:
        d = deploy(dev_config(novaMigrationSshKey=key))
        return [reveal(d.mocks.named(f"compute-1-{s}").inputs["triggers"]) for s in ("restart-nova-compute", "restart-l2-agent")]

    assert restarts(keys["ed25519"][0]) == restarts(keys["rsa"][0])
