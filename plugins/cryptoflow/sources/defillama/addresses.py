"""Contract addresses per chain: EVM (lower-case hex, EIP-55 checksum checked when mixed case), Solana (base58,
32 bytes). ``normalize_address`` returns the stored form or raises ``BadAddress`` saying what is wrong."""

from __future__ import annotations

import re
from functools import lru_cache

# DefiLlama chain names and address prefixes ('avax:0x..', 'bsc:0x..') -> our chain slug
CHAIN_ALIASES = {
    "avax": "avalanche", "binance": "bsc", "bnb": "bsc", "xdai": "gnosis", "optimism": "op-mainnet",
    "op": "op-mainnet", "matic": "polygon", "zksync era": "era", "zksync-era": "era", "arbitrum one": "arbitrum",
    "hyperliquid": "hyperliquid-l1", "hyperevm": "hyperliquid-l1", "ethereum mainnet": "ethereum", "eth": "ethereum",
}
EVM_CHAINS = frozenset({
    "ethereum", "arbitrum", "op-mainnet", "base", "polygon", "bsc", "avalanche", "fantom", "gnosis", "era", "linea",
    "scroll", "blast", "mantle", "celo", "moonbeam", "moonriver", "cronos", "kava", "metis", "aurora", "harmony",
    "polygon-zkevm", "arbitrum-nova", "mode", "manta", "sonic", "berachain", "unichain", "sei", "core", "fraxtal",
    "taiko", "zora", "boba", "okexchain", "heco", "kucoin", "telos", "syscoin", "klaytn", "kaia", "rootstock",
    "ink", "abstract", "soneium", "plasma", "katana", "monad", "flare", "gravity", "astar", "iotex", "fuse",
    "evmos", "canto", "velas", "oasis", "polynomial", "lisk", "bob", "world-chain", "hemi", "corn", "swellchain",
})
SOLANA_CHAINS = frozenset({"solana", "eclipse"})

_HEX40 = re.compile(r"^0x[0-9a-fA-F]{40}$")
_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}


class BadAddress(ValueError):
    pass


def chain_slug(name: str | None) -> str:
    """'OP Mainnet' -> 'op-mainnet', 'avax' -> 'avalanche', 'Binance' -> 'bsc'."""
    raw = (name or "").strip().lower()
    raw = CHAIN_ALIASES.get(raw, raw)
    slug = re.sub(r"\s+", "-", raw)
    return CHAIN_ALIASES.get(slug, slug)


def family(chain: str) -> str:
    if chain in EVM_CHAINS:
        return "evm"
    if chain in SOLANA_CHAINS:
        return "solana"
    return "other"


# -- Keccak-256 (the pre-standard SHA-3 that Ethereum uses; hashlib.sha3_256 pads differently) -----------------------

_RC = [
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000, 0x000000000000808B,
    0x0000000080000001, 0x8000000080008081, 0x8000000000008009, 0x000000000000008A, 0x0000000000000088,
    0x0000000080008009, 0x000000008000000A, 0x000000008000808B, 0x800000000000008B, 0x8000000000008089,
    0x8000000000008003, 0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
]
_ROT = [0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14]
_MASK = (1 << 64) - 1


# rho and pi combined: lane i moves to _PI_DEST[i] rotated left by _ROT[i]
_PI_DEST = [(i // 5) + 5 * ((2 * (i % 5) + 3 * (i // 5)) % 5) for i in range(25)]
_STEPS = [(i, _PI_DEST[i], _ROT[i], 64 - _ROT[i]) for i in range(25)]


def _keccak_f(a: list[int]) -> None:
    b = [0] * 25
    for rc in _RC:
        c0 = a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20]
        c1 = a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21]
        c2 = a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22]
        c3 = a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23]
        c4 = a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24]
        d = (c4 ^ (((c1 << 1) | (c1 >> 63)) & _MASK), c0 ^ (((c2 << 1) | (c2 >> 63)) & _MASK),
             c1 ^ (((c3 << 1) | (c3 >> 63)) & _MASK), c2 ^ (((c4 << 1) | (c4 >> 63)) & _MASK),
             c3 ^ (((c0 << 1) | (c0 >> 63)) & _MASK))
        for i, dest, r, rr in _STEPS:
            v = a[i] ^ d[i % 5]
            b[dest] = ((v << r) | (v >> rr)) & _MASK if r else v
        for y in range(0, 25, 5):
            b0, b1, b2, b3, b4 = b[y], b[y + 1], b[y + 2], b[y + 3], b[y + 4]
            a[y] = b0 ^ (~b1 & b2)
            a[y + 1] = b1 ^ (~b2 & b3)
            a[y + 2] = b2 ^ (~b3 & b4)
            a[y + 3] = b3 ^ (~b4 & b0)
            a[y + 4] = b4 ^ (~b0 & b1)
        a[0] ^= rc


def keccak256(data: bytes) -> bytes:
    rate = 136
    pad = rate - len(data) % rate
    padded = bytes(data) + (b"\x81" if pad == 1 else b"\x01" + b"\x00" * (pad - 2) + b"\x80")
    state = [0] * 25
    for off in range(0, len(padded), rate):
        block = padded[off:off + rate]
        for i in range(rate // 8):
            state[i] ^= int.from_bytes(block[8 * i:8 * i + 8], "little")
        _keccak_f(state)
    return b"".join(state[i].to_bytes(8, "little") for i in range(4))


@lru_cache(maxsize=65536)
def _checksum(lower_hex: str) -> str:
    digest = keccak256(lower_hex.encode()).hex()
    return "0x" + "".join(ch.upper() if int(digest[i], 16) >= 8 else ch for i, ch in enumerate(lower_hex))


def evm_address(value: str) -> str:
    if not _HEX40.match(value):
        raise BadAddress(f"{value!r} is not an EVM address (0x and 40 hex digits)")
    body = value[2:]
    if body != body.lower() and body != body.upper() and _checksum(body.lower()) != value:
        raise BadAddress(f"{value!r} has mixed case but an invalid EIP-55 checksum (a typo?)")
    return value.lower()


def _b58decode_len(value: str) -> int:
    n = 0
    for ch in value:
        if ch not in _B58_INDEX:
            raise BadAddress(f"{value!r} is not base58 (character {ch!r})")
        n = n * 58 + _B58_INDEX[ch]
    leading = len(value) - len(value.lstrip("1"))
    return leading + (n.bit_length() + 7) // 8


def solana_address(value: str) -> str:
    if not 32 <= len(value) <= 44:
        raise BadAddress(f"{value!r} is not a Solana address ({len(value)} characters, expected 32 to 44)")
    if _b58decode_len(value) != 32:
        raise BadAddress(f"{value!r} does not decode to 32 bytes")
    return value


def normalize_address(chain: str, value: str) -> tuple[str, bool]:
    """(stored form, whether the format was validated for the chain). Raises BadAddress for malformed input."""
    value = (value or "").strip()
    if not value:
        raise BadAddress("empty address")
    kind = family(chain)
    if kind == "evm":
        return evm_address(value), True
    if kind == "solana":
        return solana_address(value), True
    if _HEX40.match(value):                 # an unlisted chain with an EVM-shaped address: treat it as EVM
        return evm_address(value), True
    if any(c.isspace() for c in value) or len(value) > 200:
        raise BadAddress(f"{value[:60]!r} does not look like an address")
    return value, False


def split_prefixed(raw: str) -> tuple[str | None, str]:
    """'arbitrum:0xabc' -> ('arbitrum', '0xabc'); '0xabc' -> (None, '0xabc'). Sui-style '0x2::sui::SUI' stays whole."""
    raw = raw.strip()
    if ":" in raw and "::" not in raw:
        prefix, _, rest = raw.partition(":")
        if prefix and rest and re.fullmatch(r"[A-Za-z][A-Za-z0-9_ .-]*", prefix):
            return chain_slug(prefix), rest.strip()
    return None, raw
