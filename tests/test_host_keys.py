"""Host-key pins at run time: a key from another stack is checked like an inline one, and a run says
once which hosts nothing pins."""

from __future__ import annotations

import logging

import pytest

from support.mocks import HOST_KEY, Recorder, deploy, dev_config

VM_STACK = "acme/vms/dev"


def host(**kw) -> dict:
    return {"name": "compute-1", "address": "10.0.0.20", "bridgeInterface": "eth2", "virtType": "qemu", **kw}


def unpinned_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "not pinned" in r.getMessage()]


def test_a_run_names_the_unpinned_hosts_once(caplog):
    caplog.set_level(logging.WARNING)
    deploy(dev_config(computeHosts=[host(), host(name="compute-2", address="10.0.0.21", hostKey=HOST_KEY)]))
    (warning,) = unpinned_warnings(caplog)
    assert "api-node (controller), compute-1" in warning and "compute-2" not in warning
    assert "ssh-keyscan -t ed25519" in warning


def test_no_warning_when_every_host_is_pinned(caplog):
    caplog.set_level(logging.WARNING)
    controller = dict(dev_config()["novalab:controller"], hostKey=HOST_KEY)
    deploy(dev_config(controller=controller, computeHosts=[host(hostKeyFrom={"stack": VM_STACK, "output": "key"})]),
           mocks=Recorder(stack_outputs={VM_STACK: {"key": HOST_KEY}}))
    assert unpinned_warnings(caplog) == []


@pytest.mark.parametrize("value", ["", "   ", "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRydW5jYXRlZA=="])
def test_a_host_key_from_another_stack_is_checked_like_an_inline_one(value):
    mocks = Recorder(stack_outputs={VM_STACK: {"key": value}}, secret_stack_outputs=["key"])
    with pytest.raises(ValueError) as exc:
        deploy(dev_config(computeHosts=[host(hostKeyFrom={"stack": VM_STACK, "output": "key"})]), mocks=mocks)
    message = str(exc.value)
    assert "computeHosts[0].hostKeyFrom: output 'key' of stack 'acme/vms/dev'" in message
    assert "ssh-keyscan -t ed25519" in message or "missing or not text" in message
    if value.strip():
        assert value.strip() not in message  # the other stack's output may be a secret
