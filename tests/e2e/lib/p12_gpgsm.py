#!/usr/bin/python3
"""tests/e2e/lib/p12_gpgsm.py — tells whether gpgsm 2.2 can derive the 3DES keys of a PKCS#12 file.

Usage: p12_gpgsm.py FILE PASSWORD-FILE
Exit status 0: every pbeWithSHAAnd3-KeyTripleDES-CBC bag derives the same key in gpgsm 2.2 as in
RFC 7292 (or the file has no such bag); 3: some bag trips gpgsm's defect; 1: usage or read error.

Why: gpgsm 2.2's minip12.c stores the sum of RFC 7292 B.2 step 6C with gcry_mpi_print(USG), which
drops a leading zero byte and shifts the 64-byte block, so the second SHA-1 round of a 24-byte
3DES key hashes other input. About one bag salt in 128 trips it and gpgsm then says "possibly bad
passphrase given" for the right password. The product rebuilds such bundles
(src/crypto/pkcs12_kdf.rs); the e2e client self-test builds its own compat bundle with
`openssl pkcs12 -export` and uses this to do the same, so its gpgsm check is not a 1-in-64 coin.

The bag parameters are found by their DER bytes: the OID 1.2.840.113549.1.12.1.3 followed by
SEQUENCE { OCTET STRING salt, INTEGER iterations } (RFC 7292 Appendix C). Both the shrouded key
bag's and the encrypted certificate bag's AlgorithmIdentifiers are stored unencrypted.
Standard library only.
"""

import hashlib
import sys

OID_PBE_3DES = bytes.fromhex("060a2a864886f70d010c0103")
V = 64


def der_len(buf, i):
    """Length at buf[i]; returns (length, index after the length octets)."""
    first = buf[i]
    if first < 0x80:
        return first, i + 1
    n = first & 0x7F
    return int.from_bytes(buf[i + 1:i + 1 + n], "big"), i + 1 + n


def pbe_params(der):
    """(salt, iterations) of every 3DES bag in the file."""
    out = []
    start = 0
    while True:
        at = der.find(OID_PBE_3DES, start)
        if at < 0:
            return out
        i = at + len(OID_PBE_3DES)
        start = i
        if der[i] != 0x30:
            continue
        _, i = der_len(der, i + 1)
        if der[i] != 0x04:
            continue
        n, i = der_len(der, i + 1)
        salt = der[i:i + n]
        i += n
        if der[i] != 0x02:
            continue
        n, i = der_len(der, i + 1)
        out.append((salt, int.from_bytes(der[i:i + n], "big")))


def stretch(s):
    length = -(-len(s) // V) * V
    return bytes(s[k % len(s)] for k in range(length)) if s else b""


def derive(password, salt, iterations, gpgsm):
    """24 bytes of key material (ID 1, SHA-1), as RFC 7292 B.2 or as gpgsm 2.2 computes them."""
    bmp = b"".join(b"\x00" + bytes([c]) for c in password) + b"\x00\x00"
    blocks = bytearray(stretch(salt) + stretch(bmp))
    out = b""
    while True:
        a = hashlib.sha1(b"\x01" * V + bytes(blocks)).digest()
        for _ in range(1, max(iterations, 1)):
            a = hashlib.sha1(a).digest()
        out += a
        if len(out) >= 24:
            return out[:24]
        b1 = int.from_bytes(bytes(a[k % 20] for k in range(V)), "big") + 1
        for j in range(0, len(blocks), V):
            total = (int.from_bytes(blocks[j:j + V], "big") + b1) % (1 << (8 * V))
            full = total.to_bytes(V, "big")
            if gpgsm:
                short = full.lstrip(b"\x00")
                blocks[j:j + len(short)] = short
            else:
                blocks[j:j + V] = full


def main():
    if len(sys.argv) != 3:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 1
    try:
        with open(sys.argv[1], "rb") as f:
            der = f.read()
        with open(sys.argv[2], "rb") as f:
            password = f.read().rstrip(b"\n")
    except OSError as err:
        print(f"p12_gpgsm.py: {err}", file=sys.stderr)
        return 1
    for salt, iterations in pbe_params(der):
        if derive(password, salt, iterations, False) != derive(password, salt, iterations, True):
            return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
