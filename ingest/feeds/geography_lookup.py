"""The codes a feed may use for a health and wellbeing board, read from the store's reference geography.

City of London and the Isles of Scilly report inside Hackney and Cornwall, so
their codes are accepted and stored as the HWB they join.
"""
from __future__ import annotations

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.tables import hwb, hwb_alias


def hwb_codes(conn: Connection) -> pa.Table:
    """code (as a feed may write it) -> hwb_code (as stored)."""
    codes = [r[0] for r in conn.execute(sa.select(hwb.c.hwb_code))]
    aliases = [(r[0], r[1]) for r in conn.execute(sa.select(hwb_alias.c.code, hwb_alias.c.hwb_code))]
    return pa.table({"code": [c.upper() for c in codes] + [a.upper() for a, _ in aliases],
                     "hwb_code": codes + [h for _, h in aliases]})
