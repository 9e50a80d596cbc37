"""Counting distinct words in fixed memory: exactly up to a cap, then by a HyperLogLog estimate."""

from __future__ import annotations

import hashlib
import math

EXACT_CAP = 50_000
"""Distinct words held as a set (a few MB); a document with more is estimated."""
_PRECISION = 14
_REGISTERS = 1 << _PRECISION  # 16 KiB; standard error 1.04 / sqrt(16384) ≈ 0.8 %
_ALPHA = 0.7213 / (1 + 1.079 / _REGISTERS)
_RANK_BITS = 64 - _PRECISION


class UniqueCounter:
    def __init__(self, cap: int = EXACT_CAP) -> None:
        self._cap = cap
        self._seen: set[str] | None = set()
        self._registers: bytearray | None = None

    @property
    def exact(self) -> bool:
        """Whether ``count`` is exact (the cap was never passed) or an estimate."""
        return self._seen is not None

    def add(self, word: str) -> None:
        if self._seen is not None:
            self._seen.add(word)
            if len(self._seen) > self._cap:
                self._spill()
        else:
            self._register(word)

    def count(self) -> int:
        if self._seen is not None:
            return len(self._seen)
        return self._estimate()

    def _spill(self) -> None:
        """Move the set into the registers: every word seen so far goes in once, as it would have."""
        assert self._seen is not None
        self._registers = bytearray(_REGISTERS)
        seen, self._seen = self._seen, None
        for word in seen:
            self._register(word)

    def _register(self, word: str) -> None:
        assert self._registers is not None
        digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
        index = digest >> _RANK_BITS
        rest = digest & ((1 << _RANK_BITS) - 1)
        rank = _RANK_BITS - rest.bit_length() + 1  # position of the first 1 bit
        if rank > self._registers[index]:
            self._registers[index] = rank

    def _estimate(self) -> int:
        assert self._registers is not None
        harmonic = sum(2.0**-value for value in self._registers)
        estimate = _ALPHA * _REGISTERS * _REGISTERS / harmonic
        empty = self._registers.count(0)
        if estimate <= 2.5 * _REGISTERS and empty:
            estimate = _REGISTERS * math.log(_REGISTERS / empty)  # linear counting for small sets
        return round(estimate)
