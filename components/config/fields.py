"""The value types of the stack config: each checks that a string is what it will be used as.

Every string that lands in a rendered file, a command line or an API call is checked as what it is
(an address, a host name, a URL on its raw text, a key, a user name), and control characters are
refused everywhere. A failed check raises `BadValue`, whose message can be shown with or without
the value: values of secret config keys are never shown (report.py decides).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Annotated, Any, Optional
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field

from ..ssh_keys import parse_public_key


class BadValue(ValueError):
    """A value that is not what its key needs. TEMPLATE names the value `{value}`."""

    def __init__(self, template: str, value: Any):
        self.template, self.value = template, value
        super().__init__(template.format(value=repr(value)))

    def hidden(self) -> str:
        return self.template.format(value="(secret)")


# Unicode categories that never belong in a config value: controls (TAB, CR, LF, NUL, ESC, ...),
# format characters (bidirectional overrides, zero-width joiners), line and paragraph separators.
_REFUSED_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")


def control_characters(text: str) -> bool:
    return any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in text)


def _printable(value: str) -> str:
    if control_characters(value):
        raise BadValue("{value} holds a control character (a line break, tab, NUL, ...); expected printable text", value)
    return value


def _trimmed(value: str) -> str:
    if value != value.strip():
        raise BadValue("{value} starts or ends with whitespace", value)
    return value


def _not_bool(value: Any) -> Any:
    # YAML `true` is not a number: pydantic would take it as 1.
    if isinstance(value, bool):
        raise BadValue("{value} is true/false; expected a number", value)
    return value


_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _hostname(value: str) -> str:
    if len(value) > 253 or not all(_HOSTNAME_LABEL.match(p) for p in value.split(".")):
        raise BadValue(
            "{value} is not a valid host name; expected letters, digits and '-' "
            "(dot-separated labels of 1-63 characters, no leading or trailing '-')",
            value,
        )
    return value


def check_ip(value: str) -> str:
    """The address in its one normal spelling (IPv6 compressed); ValueError when it is none."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise BadValue("{value} is not an IP address; expected e.g. 10.0.0.20", value) from None
    if getattr(address, "scope_id", None) is not None:
        raise BadValue("{value} has a scope (%...); expected an address without one", value)
    return str(address)


def check_interface(value: str) -> str:
    """An address with its network prefix (`10.77.2.21/24`), as `ip addr` takes it, normally spelled."""
    if "/" not in value:
        raise BadValue("{value} has no prefix; expected an address with its network's, e.g. 10.0.1.20/24", value)
    try:
        interface = ipaddress.ip_interface(value)
    except ValueError:
        raise BadValue("{value} is not an address with a prefix; expected e.g. 10.0.1.20/24", value) from None
    net = interface.network
    point_to_point = net.prefixlen >= net.max_prefixlen - 1  # /31, /32 (RFC 3021): every address a host's
    if not point_to_point and interface.ip == net.network_address:
        raise BadValue("{value} is its network's own address; expected a host's address in it", value)
    if not point_to_point and net.version == 4 and interface.ip == net.broadcast_address:
        raise BadValue("{value} is its network's broadcast address; expected a host's address in it", value)
    return str(interface)


def _host_or_ip(value: str) -> str:
    try:
        return check_ip(value)
    except ValueError:
        pass
    try:
        return _hostname(value)
    except ValueError:
        raise BadValue("{value} is neither an IP address nor a host name", value) from None


# Linux interface names: at most 15 bytes (IFNAMSIZ - 1), no '/', ':' or whitespace, not '.' or '..';
# a leading '-' would read as an option to `ip` and ifupdown.
_IFNAME = re.compile(r"^(?!-)[A-Za-z0-9_.-]{1,15}$")


def _ifname(value: str) -> str:
    if value in (".", "..") or not _IFNAME.match(value):
        raise BadValue(
            "{value} is not a Linux interface name; expected 1-15 characters of letters, "
            "digits, '_', '.', '-', not starting with '-' (e.g. eth2)",
            value,
        )
    return value


def _url_host(value: str, host: Optional[str]) -> None:
    if not host:
        raise BadValue("{value} has no host", value)
    try:
        _host_or_ip(host)
    except ValueError:
        raise BadValue("{value} has a host that is neither an IP address nor a host name", value) from None


def _http_url(value: str) -> str:
    # Checked on the raw text: urlsplit drops tabs and line breaks before it parses.
    if control_characters(value) or any(c.isspace() for c in value):
        raise BadValue("{value} holds whitespace or a control character; expected a URL such as http://10.0.0.4:5000", value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise BadValue("{value} is not an http(s) URL; expected e.g. http://10.0.0.4:5000", value)
    if parts.username is not None or parts.password is not None:
        raise BadValue("{value} holds a user or password; give the URL without them", value)
    _url_host(value, parts.hostname)
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise BadValue("{value} has a bad port", value) from None
    return value


def _glance_server(value: str) -> str:
    # The tutorial writes `10.0.0.5:9292`; today's [glance] api_servers wants URLs.
    return _http_url(value if "://" in value else f"http://{value}")


def _ovsdb_remote(value: str) -> str:
    """An OVSDB remote as ovn-controller takes it (ovs-vsctl(8), "Database Connection Methods"):
    `tcp:HOST:PORT` or `ssl:HOST:PORT`, IPv6 in brackets, several separated by commas."""
    for remote in value.split(","):
        method, _, rest = remote.partition(":")
        host, _, port = rest.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        ok = method in ("tcp", "ssl") and port.isdigit() and 0 < int(port) < 65536
        try:
            ok = ok and bool(_host_or_ip(host))
        except ValueError:
            ok = False
        if not ok:
            raise BadValue(
                "{value} is not an OVSDB remote; expected tcp:HOST:PORT or ssl:HOST:PORT "
                "(e.g. tcp:10.0.0.6:6642, IPv6 as tcp:[fd00::6]:6642), several separated by commas",
                value,
            )
    return value


KEYSCAN = "get it with `ssh-keyscan -t ed25519 HOST` and give its `ssh-ed25519 AAAA...` part"


def check_host_key(value: str) -> str:
    """A host's SSH public key, `TYPE BASE64` (a comment may follow)."""
    text = value.strip()
    try:
        parse_public_key(text)
    except ValueError as e:
        raise BadValue(f"{{value}} is not an OpenSSH public key ({e}); {KEYSCAN}", value) from None
    return text


def _public_key(value: str) -> str:
    try:
        parse_public_key(value)
    except ValueError as e:
        raise BadValue(f"{{value}} is not an OpenSSH public key ({e}); give the line of a .pub file", value) from None
    return value


# nova's keypair names before API microversion 2.92 (nova/api/validation/parameter_types.py,
# keypair_name_special_chars), with no whitespace at either end (its 'name' format).
_KEYPAIR_NAME = re.compile(r"^(?! )[_\- a-zA-Z0-9]{1,255}(?<! )$")


def _keypair_name(value: str) -> str:
    if not _KEYPAIR_NAME.match(value):
        raise BadValue(
            "{value} is not a nova keypair name; expected 1-255 letters, digits, '_', '-' or spaces "
            "(not at either end)",
            value,
        )
    return value


# A POSIX user name as Debian's useradd takes it (NAME_REGEX): what `ssh USER@...` and sudo accept.
_POSIX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def _posix_user(value: str) -> str:
    if not _POSIX_USER.match(value):
        raise BadValue(
            "{value} is not a user name; expected 1-32 lowercase letters, digits, '_' or '-', "
            "starting with a letter or '_' (e.g. root, debian, cirros)",
            value,
        )
    return value


def _path(value: str) -> str:
    if not value or control_characters(value):
        raise BadValue("{value} is not a file path (empty, or holds a control character)", value)
    return value


Text = Annotated[str, Field(min_length=1), AfterValidator(_printable)]
# A name of an OpenStack or RabbitMQ object: printable, no whitespace at either end (oslo.config and
# the APIs would strip it), at most 255 characters as keystone, nova and neutron store them.
Name = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_printable), AfterValidator(_trimmed)]
Int = Annotated[int, BeforeValidator(_not_bool)]
Port = Annotated[int, BeforeValidator(_not_bool), Field(ge=1, le=65535)]
Hostname = Annotated[str, AfterValidator(_hostname)]
IpAddress = Annotated[str, AfterValidator(check_ip)]
IpInterface = Annotated[str, AfterValidator(check_interface)]
HostOrIp = Annotated[str, AfterValidator(_host_or_ip)]
IfName = Annotated[str, AfterValidator(_ifname)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
GlanceServer = Annotated[str, AfterValidator(_glance_server)]
OvsdbRemote = Annotated[str, AfterValidator(_ovsdb_remote)]
HostKey = Annotated[str, AfterValidator(check_host_key)]
PublicKey = Annotated[str, AfterValidator(_public_key)]
KeypairName = Annotated[str, AfterValidator(_keypair_name)]
PosixUser = Annotated[str, AfterValidator(_posix_user)]
FilePath = Annotated[str, AfterValidator(_path)]
