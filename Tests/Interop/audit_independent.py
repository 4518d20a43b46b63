"""An independent implementation of what Portcullis's audit log claims, written from the
specifications only (RFC 6962/9162 Merkle trees, C2SP signed-note and tlog-checkpoint), with
`hashlib` and `cryptography` for the primitives. The audit tests check Portcullis's roots,
proofs, checkpoints and signatures against it, and use it to write a log Portcullis must verify.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes (RFC 6962 §2.1)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def inclusion_proof(index: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (RFC 6962 §2.1.1)."""
    n = len(leaves)
    if n <= 1:
        return []
    k = _split(n)
    if index < k:
        return inclusion_proof(index, leaves[:k]) + [root(leaves[k:])]
    return inclusion_proof(index - k, leaves[k:]) + [root(leaves[:k])]


def consistency_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) (RFC 6962 §2.1.2)."""
    if m == 0 or m == len(leaves):
        return []

    def sub(m: int, d: list[bytes], b: bool) -> list[bytes]:
        n = len(d)
        if m == n:
            return [] if b else [root(d)]
        k = _split(n)
        if m <= k:
            return sub(m, d[:k], b) + [root(d[k:])]
        return sub(m - k, d[k:], False) + [root(d[:k])]

    return sub(m, leaves, True)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], expected_root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(m: int, n: int, root1: bytes, root2: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2."""
    if m == n:
        return not proof and root1 == root2
    if m == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if m & (m - 1) == 0:
        path.insert(0, root1)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root1 and sr == root2


# --------------------------------------------------------------------------- signed notes


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + b"\x01" + public_key).digest()[:4]


@dataclass
class Verifier:
    name: str
    key_hash: bytes
    public_key: ed25519.Ed25519PublicKey
    raw: bytes

    @staticmethod
    def parse(vkey: str) -> "Verifier":
        name, hash_hex, material = vkey.strip().split("+", 2)
        raw = base64.b64decode(material, validate=True)
        assert raw[0] == 1 and len(raw) == 33, "not an Ed25519 verifier key"
        assert key_id(name, raw[1:]).hex() == hash_hex, "verifier key hash mismatch"
        return Verifier(name, bytes.fromhex(hash_hex), ed25519.Ed25519PublicKey.from_public_bytes(raw[1:]), raw[1:])

    def verifies(self, note: str) -> bool:
        text, _, block = note.rpartition("\n\n")
        text += "\n"
        for line in block.splitlines():
            dash, name, sig = line.split(" ")
            if dash != "\u2014" or name != self.name:
                continue
            blob = base64.b64decode(sig)
            if blob[:4] != self.key_hash:
                continue
            try:
                self.public_key.verify(blob[4:], text.encode())
                return True
            except InvalidSignature:
                return False
        return False


def signer_from_skey(skey: str) -> tuple[str, ed25519.Ed25519PrivateKey]:
    """`PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>` (the Go note format)."""
    parts = skey.strip().split("+", 4)
    assert parts[:2] == ["PRIVATE", "KEY"], "not a signed-note private key"
    raw = base64.b64decode(parts[4])
    return parts[2], ed25519.Ed25519PrivateKey.from_private_bytes(raw[1:])


def sign_note(text: str, name: str, key: ed25519.Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    sig = key.sign(text.encode())
    return text + "\n\u2014 " + name + " " + base64.b64encode(key_id(name, pub) + sig).decode() + "\n"


def parse_checkpoint(note: str) -> tuple[str, int, bytes]:
    lines = note.split("\n")
    return lines[0], int(lines[1]), base64.b64decode(lines[2])


def checkpoint_text(origin: str, size: int, root_hash: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root_hash).decode()}\n"


# --------------------------------------------------------------------------- entries


def canonical(value) -> bytes:
    """Canonical JSON as Portcullis defines it: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_bytes(event: dict, index: int) -> bytes:
    return canonical({"event": event, "index": index})
