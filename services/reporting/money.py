"""Money on the read side: integer fen in, a yuan string out (never through float)."""

from __future__ import annotations


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"
