"""OpenSSH keys as text: a public key line checked, the public half of a private key derived.

Pure and stdlib only, for the config checks (hostKey, keypair.publicKey, novaMigrationSshKey) and the
renderer (nova's authorized_keys). The wire format is RFC 4253 section 6.6 (a blob of length-prefixed
strings) and OpenSSH's PROTOCOL.key for private keys; no crypto is needed to read either.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct

# The key types OpenSSH accepts today, and how many strings follow the type in the blob
# (RFC 4253 6.6, RFC 5656 3.1, RFC 8709 4, OpenSSH's PROTOCOL.u2f for the sk- types).
KEY_TYPES = {
    "ssh-ed25519": 1,
    "ssh-rsa": 2,
    "ecdsa-sha2-nistp256": 2,
    "ecdsa-sha2-nistp384": 2,
    "ecdsa-sha2-nistp521": 2,
    "sk-ssh-ed25519@openssh.com": 2,
    "sk-ecdsa-sha2-nistp256@openssh.com": 3,
}
_ARMOR = re.compile(r"-----BEGIN OPENSSH PRIVATE KEY-----(.*?)-----END OPENSSH PRIVATE KEY-----", re.S)
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


class _Reader:
    """Length-prefixed strings (uint32 big-endian length, then the bytes) from a buffer."""

    def __init__(self, data: bytes, what: str):
        self.data, self.pos, self.what = data, 0, what

    def string(self) -> bytes:
        if self.pos + 4 > len(self.data):
            raise ValueError(f"{self.what} is truncated")
        (size,) = struct.unpack(">I", self.data[self.pos : self.pos + 4])
        value = self.data[self.pos + 4 : self.pos + 4 + size]
        if len(value) != size:
            raise ValueError(f"{self.what} is truncated")
        self.pos += 4 + size
        return value

    def uint32(self) -> int:
        if self.pos + 4 > len(self.data):
            raise ValueError(f"{self.what} is truncated")
        self.pos += 4
        return struct.unpack(">I", self.data[self.pos - 4 : self.pos])[0]

    @property
    def done(self) -> bool:
        return self.pos == len(self.data)


def check_public_key_blob(key_type: str, blob: bytes) -> None:
    """ValueError unless BLOB is a public key of KEY_TYPE (its embedded type and its fields)."""
    if key_type not in KEY_TYPES:
        raise ValueError(f"key type {key_type[:40]!r} is not one OpenSSH accepts ({', '.join(KEY_TYPES)})")
    reader = _Reader(blob, "the key")
    if reader.string() != key_type.encode():
        raise ValueError(f"the key's data is not of type {key_type}")
    fields = [reader.string() for _ in range(KEY_TYPES[key_type])]
    if not reader.done:
        raise ValueError("the key has data past its end")
    if key_type in ("ssh-ed25519", "sk-ssh-ed25519@openssh.com") and len(fields[0]) != 32:
        raise ValueError("an ed25519 key is 32 bytes")
    if key_type.startswith("ecdsa-") and fields[0] != key_type.rsplit("-", 1)[1].encode():
        raise ValueError(f"the key's curve is not the one {key_type} names")


def parse_public_key(text: str) -> tuple[str, str]:
    """(type, base64) of an OpenSSH public key line `TYPE BASE64 [comment]`; ValueError saying
    what is wrong, never quoting the text."""
    parts = text.split()
    if len(parts) < 2:
        raise ValueError("expected `TYPE BASE64 [comment]`, e.g. ssh-ed25519 AAAA...")
    key_type, data = parts[0], parts[1]
    if not _BASE64.match(data):
        raise ValueError("the key's second word is not base64")
    try:
        blob = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise ValueError("the key's second word is not base64") from None
    check_public_key_blob(key_type, blob)
    return key_type, data


def openssh_public_key(private_key: str) -> str:
    """The public half ("ssh-ed25519 AAAA...") of an unencrypted OpenSSH private key: the
    openssh-key-v1 format carries it in clear. ValueError when the text is not such a key, or is
    passphrase-protected (nova uses it unattended); the message never quotes the key."""
    match = _ARMOR.search(private_key)
    if not match:
        raise ValueError("not an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----)")
    try:
        data = base64.b64decode("".join(match.group(1).split()), validate=True)
    except binascii.Error:
        raise ValueError("the OpenSSH private key is not valid base64") from None
    magic = b"openssh-key-v1\0"
    if not data.startswith(magic):
        raise ValueError("not an openssh-key-v1 private key")
    reader = _Reader(data[len(magic):], "the OpenSSH private key")
    cipher = reader.string()
    reader.string(), reader.string()  # the KDF's name and options: none without a passphrase
    if cipher != b"none":
        raise ValueError("the OpenSSH private key has a passphrase; nova needs one without (ssh-keygen -N '')")
    if reader.uint32() != 1:
        raise ValueError("the OpenSSH private key file holds more than one key")
    blob = reader.string()
    key_type = _Reader(blob, "the OpenSSH private key's public half").string().decode("ascii", "replace")
    check_public_key_blob(key_type, blob)
    return f"{key_type} {base64.b64encode(blob).decode()}"
