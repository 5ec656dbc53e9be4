#!/usr/bin/env python3
"""Computes the worked example of docs/PROTOCOL.md from fixed keys, independently of the Swift code.

Needs Python 3.9+ and the `cryptography` package (X25519 and AES-GCM); everything else is the standard
library. Run `python3 worked_example.py`: the output is the annotated hex shown in PROTOCOL.md (section
"Worked example"). Before printing anything the script checks its Noise code against published Noise test
vectors, and every message it builds is also read back by a second, independent reader (the peer's side).
"""

import base64
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# ---------------------------------------------------------------------------------------------------------
# Fixed inputs. The four connection keys are the private keys of the first Noise_XX_25519_AESGCM_SHA256
# test vector (cacophony); bob's identity key and the wrap's ephemeral key are RFC 7748 section 6.1's
# Bob and Alice private keys. NEVER use fixed keys, content keys or message ids outside an example.
# ---------------------------------------------------------------------------------------------------------

CLIENT_STATIC = "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1"     # alice's identity key
CLIENT_EPHEMERAL = "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a"
SERVER_STATIC = "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893"
SERVER_EPHEMERAL = "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b"
BOB_STATIC = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"        # bob's identity key
WRAP_EPHEMERAL = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
CONTENT_KEY = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f00123456789abcdeffedcba9876543210")
MESSAGE_ID = bytes.fromhex("00112233445566778899aabbccddeeff")
TIMESTAMP_MS = 1735689600000                                                       # 2025-01-01T00:00:00Z
TEXT = "hi bob"

PROLOGUE = b"LanChat/1"
XX_NAME = b"Noise_XX_25519_AESGCM_SHA256"
K_NAME = b"Noise_K_25519_AESGCM_SHA256"
COMMITMENT_LABEL = b"LanChat-v1 key commitment"
WRAP_LABEL = b"LanChat-v1 wrap"

# ---------------------------------------------------------------------------------------------------------
# Noise (spec revision 34) with 25519, AESGCM and SHA256
# ---------------------------------------------------------------------------------------------------------


def private_key(hex_key):
    return X25519PrivateKey.from_private_bytes(bytes.fromhex(hex_key))


def public_bytes(key):
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def dh(private, public):
    shared = private.exchange(X25519PublicKey.from_public_bytes(public))
    assert shared != bytes(32), "low-order point"
    return shared


def aesgcm_nonce(n):
    return bytes(4) + struct.pack(">Q", n)


def hkdf2(chaining_key, input_key_material):
    """Noise HKDF(ck, ikm, 2): HMAC-SHA256 extract with ck as key, then two expand blocks."""
    temp = hmac.new(chaining_key, input_key_material, hashlib.sha256).digest()
    out1 = hmac.new(temp, b"\x01", hashlib.sha256).digest()
    out2 = hmac.new(temp, out1 + b"\x02", hashlib.sha256).digest()
    return out1, out2


class CipherState:
    def __init__(self, key=None):
        self.k, self.n = key, 0

    def encrypt(self, ad, plaintext):
        if self.k is None:
            return plaintext
        out = AESGCM(self.k).encrypt(aesgcm_nonce(self.n), plaintext, ad)
        self.n += 1
        return out

    def decrypt(self, ad, ciphertext):
        if self.k is None:
            return ciphertext
        out = AESGCM(self.k).decrypt(aesgcm_nonce(self.n), ciphertext, ad)
        self.n += 1
        return out


class SymmetricState:
    def __init__(self, protocol_name):
        self.h = protocol_name.ljust(32, b"\0") if len(protocol_name) <= 32 else hashlib.sha256(protocol_name).digest()
        self.ck = self.h
        self.cipher = CipherState()

    def mix_hash(self, data):
        self.h = hashlib.sha256(self.h + data).digest()

    def mix_key(self, ikm):
        self.ck, temp_k = hkdf2(self.ck, ikm)
        self.cipher = CipherState(temp_k)

    def encrypt_and_hash(self, plaintext):
        ciphertext = self.cipher.encrypt(self.h, plaintext)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext):
        plaintext = self.cipher.decrypt(self.h, ciphertext)
        self.mix_hash(ciphertext)
        return plaintext

    def split(self):
        k1, k2 = hkdf2(self.ck, b"")
        return k1, k2


PATTERNS = {
    # name: (pre-messages as (initiator has s, responder has s), message patterns)
    "XX": ((False, False), [["e"], ["e", "ee", "s", "es"], ["s", "se"]]),
    "K": ((True, True), [["e", "es", "ss"]]),
}


class Handshake:
    def __init__(self, pattern, initiator, prologue, s, e, rs=None):
        (pre_i, pre_r), self.messages = PATTERNS[pattern]
        self.initiator, self.s, self.e, self.rs, self.re = initiator, s, e, rs, None
        self.sym = SymmetricState(XX_NAME if pattern == "XX" else K_NAME)
        self.sym.mix_hash(prologue)
        if pre_i:
            self.sym.mix_hash(public_bytes(s) if initiator else rs)
        if pre_r:
            self.sym.mix_hash(rs if initiator else public_bytes(s))
        self.index = 0

    def _dh(self, token):
        local_e, remote_e = {"ee": (True, True), "ss": (False, False),
                             "es": (self.initiator, not self.initiator),
                             "se": (not self.initiator, self.initiator)}[token]
        return dh(self.e if local_e else self.s, self.re if remote_e else self.rs)

    def write(self, payload=b""):
        out = b""
        for token in self.messages[self.index]:
            if token == "e":
                out += public_bytes(self.e)
                self.sym.mix_hash(public_bytes(self.e))
            elif token == "s":
                out += self.sym.encrypt_and_hash(public_bytes(self.s))
            else:
                self.sym.mix_key(self._dh(token))
        out += self.sym.encrypt_and_hash(payload)
        self.index += 1
        return out

    def read(self, message):
        rest = message
        for token in self.messages[self.index]:
            if token == "e":
                self.re, rest = rest[:32], rest[32:]
                self.sym.mix_hash(self.re)
            elif token == "s":
                size = 48 if self.sym.cipher.k is not None else 32
                self.rs = self.sym.decrypt_and_hash(rest[:size])
                rest = rest[size:]
            else:
                self.sym.mix_key(self._dh(token))
        payload = self.sym.decrypt_and_hash(rest)
        self.index += 1
        return payload

    def transport(self):
        """(send, receive) cipher states for this side."""
        k1, k2 = self.sym.split()
        return (CipherState(k1), CipherState(k2)) if self.initiator else (CipherState(k2), CipherState(k1))


def self_test():
    """The Noise code reproduces published vectors (the ones named in /work/shared/vectors)."""
    i = Handshake("XX", True, b"John Galt", private_key(CLIENT_STATIC), private_key(CLIENT_EPHEMERAL))
    r = Handshake("XX", False, b"John Galt", private_key(SERVER_STATIC), private_key(SERVER_EPHEMERAL))
    m1 = i.write(b"Ludwig von Mises")
    assert m1.hex() == "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c756477696720766f6e204d69736573"
    r.read(m1)
    i.read(r.write(b"Murray Rothbard"))
    r.read(i.write(b"F. A. Hayek"))
    assert i.sym.h.hex() == r.sym.h.hex() == "1b7aefb1125762aa21a252890d00af54519638b76437444538f9a52f21e2e0dc"
    r_send, _ = r.transport()
    assert r_send.encrypt(b"", b"Carl Menger").hex() == "bc3fa77f6aca3e8466d7dc6bea10013e88a6a29add5132b461806c"
    k = Handshake("K", True, b"John Galt", private_key(CLIENT_STATIC), private_key(CLIENT_EPHEMERAL),
                  rs=bytes.fromhex("31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62"))
    assert k.write(b"Ludwig von Mises").hex() == (
        "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944"
        "f75d2d26eb79461435b90a9f4076d5a5277b8d38d1568b56c6b3771d783671a0")
    assert k.sym.h.hex() == "9b20b0e928f41c5307c239deaa547f0d1f3d8779bd7c896dcf8e8834a7ae892c"


# ---------------------------------------------------------------------------------------------------------
# LanChat encodings
# ---------------------------------------------------------------------------------------------------------


def u8(v): return struct.pack(">B", v)
def u16(v): return struct.pack(">H", v)
def u32(v): return struct.pack(">I", v)
def u64(v): return struct.pack(">Q", v)
def str8(s): return u8(len(s.encode())) + s.encode()
def str16(s): return u16(len(s.encode())) + s.encode()


def frame(type_byte, *fields):
    """u32 length of (type byte + body), type byte, body. Returns the fields as (bytes, note) pairs."""
    body = b"".join(f for f, _ in fields)
    return [(u32(1 + len(body)), "length = %d (type byte + body)" % (1 + len(body))),
            (u8(type_byte), "type")] + list(fields)


def joined(parts):
    return b"".join(p for p, _ in parts)


def show(title, parts):
    """Prints each field's hex (32 bytes a line) with its note, then the whole."""
    whole = joined(parts)
    print("%s (%d bytes)" % (title, len(whole)))
    for data, note in parts:
        hexed = data.hex()
        lines = [hexed[i:i + 64] for i in range(0, len(hexed), 64)] or ["(empty)"]
        print("  %-64s  %s" % (lines[0], note))
        for line in lines[1:]:
            print("  " + line)
    print()
    return whole


def show_hex(title, data):
    hexed = data.hex()
    print("%s (%d bytes)" % (title, len(data)))
    for i in range(0, len(hexed), 64):
        print("  " + hexed[i:i + 64])
    print()


def numeric_fingerprint(public_key, stable_id, iterations=5200):
    """libsignal NumericFingerprintGenerator v1, one party: 30 digits."""
    key = b"\x05" + public_key
    digest = hashlib.sha512(b"\x00\x00" + key + stable_id.encode() + key).digest()
    for _ in range(iterations - 1):
        digest = hashlib.sha512(digest + key).digest()
    return "".join("%05d" % (int.from_bytes(digest[i:i + 5], "big") % 100000) for i in range(0, 30, 5))


def grouped(digits):
    return " ".join(digits[i:i + 5] for i in range(0, len(digits), 5))


# ---------------------------------------------------------------------------------------------------------


def main():
    self_test()
    alice, server, bob = private_key(CLIENT_STATIC), private_key(SERVER_STATIC), private_key(BOB_STATIC)
    alice_pub, server_pub, bob_pub = public_bytes(alice), public_bytes(server), public_bytes(bob)

    print("### Keys\n")
    print("alice (client) static public key  %s" % alice_pub.hex())
    print("client ephemeral public key       %s" % public_bytes(private_key(CLIENT_EPHEMERAL)).hex())
    print("server static public key          %s" % server_pub.hex())
    print("server ephemeral public key       %s" % public_bytes(private_key(SERVER_EPHEMERAL)).hex())
    print("bob static public key             %s" % bob_pub.hex())
    print()

    # --- Connection: Noise XX handshake ------------------------------------------------------------------
    print("### Connection handshake (prologue \"LanChat/1\" = %s)\n" % PROLOGUE.hex())
    client = Handshake("XX", True, PROLOGUE, alice, private_key(CLIENT_EPHEMERAL))
    relay = Handshake("XX", False, PROLOGUE, server, private_key(SERVER_EPHEMERAL))

    m1 = client.write()
    show("message 1, client -> server, on the wire", [
        (u16(len(m1)), "Noise message length = %d" % len(m1)),
        (m1[:32], "e: client ephemeral public key (in clear)"),
    ])
    assert relay.read(m1) == b""

    m2 = relay.write()
    show("message 2, server -> client, on the wire", [
        (u16(len(m2)), "Noise message length = %d" % len(m2)),
        (m2[:32], "e: server ephemeral public key (in clear)"),
        (m2[32:80], "s: server static key encrypted (32) + tag (16), after ee"),
        (m2[80:], "empty payload: tag only, after es"),
    ])
    assert client.read(m2) == b"" and client.rs == server_pub

    m3 = client.write()
    show("message 3, client -> server, on the wire", [
        (u16(len(m3)), "Noise message length = %d" % len(m3)),
        (m3[:48], "s: client static key encrypted (32) + tag (16)"),
        (m3[48:], "empty payload: tag only, after se"),
    ])
    assert relay.read(m3) == b"" and relay.rs == alice_pub
    assert client.sym.h == relay.sym.h

    print("handshake hash h                  %s" % client.sym.h.hex())
    k1, k2 = client.sym.split()
    print("transport key client -> server    %s" % k1.hex())
    print("transport key server -> client    %s" % k2.hex())
    print()

    # --- Transport: hello and welcome ----------------------------------------------------------------------
    client_send, client_receive = client.transport()
    relay_send, relay_receive = relay.transport()

    print("### First transport messages\n")
    hello = show("hello frame (plaintext)", frame(
        0x01,
        (u16(1), "protocol version 1"),
        (str8("alice"), "name: str8 \"alice\""),
        (str8("lanchat 0.1.0"), "client version: str8 \"lanchat 0.1.0\""),
        (u8(1), "flags: bit 0 = wants presence"),
    ))
    sealed = client_send.encrypt(b"", hello)
    show("client -> server transport message 1 (nonce 0), on the wire", [
        (u16(len(sealed)), "Noise message length = %d" % len(sealed)),
        (sealed[:-16], "AES-256-GCM ciphertext of the hello frame"),
        (sealed[-16:], "tag"),
    ])
    assert relay_receive.decrypt(b"", sealed) == hello

    welcome = show("welcome frame (plaintext)", frame(
        0x02,
        (u16(1), "protocol version 1"),
        (str8("LanChat relay"), "server name: str8 \"LanChat relay\""),
        (str8("lanchat-server 0.1.0"), "server version: str8 \"lanchat-server 0.1.0\""),
        (u16(1), "online count = 1"),
        (str8("alice"), "  name: str8 \"alice\""),
        (alice_pub, "  key: alice's static public key"),
    ))
    sealed = relay_send.encrypt(b"", welcome)
    show("server -> client transport message 1 (nonce 0), on the wire", [
        (u16(len(sealed)), "Noise message length = %d" % len(sealed)),
        (sealed[:-16], "AES-256-GCM ciphertext of the welcome frame"),
        (sealed[-16:], "tag"),
    ])
    assert client_receive.decrypt(b"", sealed) == welcome

    # --- Envelope: alice -> bob, direct ----------------------------------------------------------------------
    print("### Sealed envelope: a direct message from alice to bob\n")
    plaintext = show("plaintext (message content)", [(u8(1), "content type 1: text"), (TEXT.encode(), "UTF-8 \"%s\"" % TEXT)])
    commitment = hashlib.sha256(COMMITMENT_LABEL + CONTENT_KEY).digest()
    print("content key CK                    %s" % CONTENT_KEY.hex())
    print("commitment = SHA-256(\"LanChat-v1 key commitment\" || CK)")
    print("                                  %s" % commitment.hex())
    print()
    header = show("header", [
        (u8(1), "format version 1"),
        (u8(1), "kind 1: direct"),
        (MESSAGE_ID, "message id"),
        (u64(TIMESTAMP_MS), "timestamp %d ms = 2025-01-01T00:00:00Z" % TIMESTAMP_MS),
        (str8("alice"), "sender name: u8 length + \"alice\""),
        (alice_pub, "sender key (alice's static public key)"),
        (commitment, "key commitment"),
        (str8("bob"), "recipient name: u8 length + \"bob\" (direct only)"),
    ])
    body = AESGCM(CONTENT_KEY).encrypt(bytes(12), plaintext, header)
    show("body = AES-256-GCM(CK, nonce 0^12, plaintext, aad = header)", [
        (body[:-16], "ciphertext"), (body[-16:], "tag")])
    body_hash = hashlib.sha256(body).digest()
    print("SHA-256(body)                     %s" % body_hash.hex())
    print("wrap prologue = \"LanChat-v1 wrap\" || header || SHA-256(body): %d bytes" % (len(WRAP_LABEL) + len(header) + 32))
    print()
    prologue = WRAP_LABEL + header + body_hash
    wrapper = Handshake("K", True, prologue, alice, private_key(WRAP_EPHEMERAL), rs=bob_pub)
    wrap = wrapper.write(CONTENT_KEY)
    show("wrap for bob = Noise_K message (alice -> bob, payload CK)", [
        (wrap[:32], "e: wrap ephemeral public key"),
        (wrap[32:], "CK encrypted (32) + tag (16), after es and ss"),
    ])

    # Bob opens it: wrap, commitment, body.
    opener = Handshake("K", False, prologue, bob, None, rs=alice_pub)
    opened_key = opener.read(wrap)
    assert opened_key == CONTENT_KEY and hashlib.sha256(COMMITMENT_LABEL + opened_key).digest() == commitment
    assert AESGCM(opened_key).decrypt(bytes(12), body, header) == plaintext

    # --- The envelope in frames --------------------------------------------------------------------------------
    print("### The envelope in frames\n")
    send = show("send frame (alice -> server, request id 2)", frame(
        0x06,
        (u32(2), "request id 2"),
        (u8(0), "flags 0 (bit 0: store for offline recipients)"),
        (u16(len(header)), "header length"),
        (header, "header"),
        (u32(len(body)), "body length"),
        (body, "body"),
        (u16(1), "wrap count 1"),
        (str8("bob"), "  recipient: str8 \"bob\""),
        (u16(len(wrap)), "  wrap length 80"),
        (wrap, "  wrap"),
    ))
    sealed = client_send.encrypt(b"", send)
    show("client -> server transport message 2 (nonce 1), on the wire", [
        (u16(len(sealed)), "Noise message length = %d" % len(sealed)),
        (sealed[:-16], "AES-256-GCM ciphertext of the send frame"),
        (sealed[-16:], "tag"),
    ])
    assert relay_receive.decrypt(b"", sealed) == send

    show("ack frame (server -> alice)", frame(
        0x08,
        (u32(2), "request id 2"),
        (u16(1), "delivered 1"),
        (u16(0), "stored 0"),
        (u16(0), "missed count 0"),
    ))
    show("deliver frame (server -> bob, from a stored copy)", frame(
        0x07,
        (u8(1), "flags 1: stored, answer with deliveryAck"),
        (u16(len(header)), "header length"),
        (header, "header"),
        (u32(len(body)), "body length"),
        (body, "body"),
        (u16(len(wrap)), "wrap length 80"),
        (wrap, "bob's wrap"),
    ))
    show("deliveryAck frame (bob -> server)", frame(0x0D, (MESSAGE_ID, "message id from the header")))

    # --- Other frames ----------------------------------------------------------------------------------------
    print("### Other frames\n")
    show("presence frame (bob joined)", frame(
        0x03, (u8(1), "event 1: joined"), (str8("bob"), "name: str8 \"bob\""), (bob_pub, "key")))
    show("lookup frame (request id 3, \"bob\")", frame(0x04, (u32(3), "request id 3"), (str8("bob"), "name: str8 \"bob\"")))
    show("lookupResult frame (bob is offline)", frame(
        0x05, (u32(3), "request id 3"), (str8("bob"), "name: str8 \"bob\""), (u8(2), "status 2: offline"), (bob_pub, "key")))
    show("lookupResult frame (no such user \"carol\")", frame(
        0x05, (u32(4), "request id 4"), (str8("carol"), "name: str8 \"carol\""), (u8(0), "status 0: unknown, no key follows")))
    show("error frame (unsupported version)", frame(
        0x09, (u32(0), "request id 0: about the connection"), (u16(1), "code 1: unsupportedVersion"),
        (str16("update"), "reason: str16 \"update\"")))
    show("ping frame", frame(0x0A, (u64(0x0102030405060708), "nonce")))
    show("pong frame", frame(0x0B, (u64(0x0102030405060708), "the ping's nonce")))
    show("bye frame", frame(0x0C, (str16("client closed"), "reason: str16 \"client closed\"")))
    show("listUsers frame (request id 5)", frame(0x0E, (u32(5), "request id 5")))
    show("userList frame", frame(
        0x0F, (u32(5), "request id 5"), (u16(2), "user count 2"),
        (str8("alice"), "  name: str8 \"alice\""), (alice_pub, "  key"), (u8(1), "  online 1"),
        (str8("bob"), "  name: str8 \"bob\""), (bob_pub, "  key"), (u8(0), "  online 0")))

    # --- Fingerprints --------------------------------------------------------------------------------------------
    print("### Fingerprints\n")
    alice_digits = numeric_fingerprint(alice_pub, "alice")
    bob_digits = numeric_fingerprint(bob_pub, "bob")
    print("alice's fingerprint (key, \"alice\")  %s" % grouped(alice_digits))
    print("bob's fingerprint (key, \"bob\")      %s" % grouped(bob_digits))
    number = alice_digits + bob_digits if alice_digits <= bob_digits else bob_digits + alice_digits
    print("safety number alice/bob            %s" % grouped(number))
    digest = base64.b64encode(hashlib.sha256(server_pub).digest()).decode().rstrip("=")
    print("server fingerprint                 SHA256:%s" % digest)


if __name__ == "__main__":
    main()
