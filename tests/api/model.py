"""tests/api/model.py: what riskpipe's query API must answer, computed here from the JSON-lines
workloads alone, independently of riskpipe's code (standard library only).

Semantics (README, "Semantics"): per TradeID the message with the highest Version wins (an equal
or lower Version is a duplicate: the first one stays); every prefix of RiskType::Region::TradeDesk
of each winner gets the exact sum of the winners' Values (rounded to micro-units, ties away from
zero) and their count; rows whose count and value are both 0 do not exist.
"""
import decimal
import json

MICRO = decimal.Decimal("0.000001")
LEVELS = ("RiskType", "Region", "TradeDesk")


def to_micro(value):
    """A Value (decimal text, or a JSON number read as Decimal) -> integer micro-units."""
    d = decimal.Decimal(value.strip() if isinstance(value, str) else value)
    return int((d.quantize(MICRO, rounding=decimal.ROUND_HALF_UP) * 1000000).to_integral_value())


def fmt_micro(n):
    """Micro-units -> the exact decimal text with 6 fractional digits."""
    sign = "-" if n < 0 else ""
    q, r = divmod(abs(n), 1000000)
    return "%s%d.%06d" % (sign, q, r)


class Model:
    """The latest version of every trade, fed the workloads in the order they were sent."""

    def __init__(self):
        self.winners = {}  # TradeID -> message (dict, numbers as Decimal)

    def feed_file(self, path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    self.feed(json.loads(line, parse_float=decimal.Decimal))

    def feed(self, m):
        old = self.winners.get(m["TradeID"])
        if old is not None and int(m["Version"]) <= int(old["Version"]):
            return
        self.winners[m["TradeID"]] = m

    @staticmethod
    def path_of(m):
        return "::".join(str(m["Hierarchy"][k]) for k in LEVELS)

    def aggregates(self):
        """{path: (value text, count)} for every row of the aggregate table."""
        totals = {}
        for m in self.winners.values():
            levels = [str(m["Hierarchy"][k]) for k in LEVELS]
            micro = to_micro(m["Value"])
            for i in range(1, len(levels) + 1):
                key = "::".join(levels[:i])
                s, c = totals.get(key, (0, 0))
                totals[key] = (s + micro, c + 1)
        return {k: (fmt_micro(s), c) for k, (s, c) in totals.items() if s or c}

    def trade(self, trade_id):
        """The fields /v1/trades/{id} must show (without seq), or None."""
        m = self.winners.get(trade_id)
        if m is None:
            return None
        ts = m.get("Timestamp")
        return {
            "trade_id": trade_id,
            "version": int(m["Version"]),
            "value": fmt_micro(to_micro(m["Value"])),
            "path": self.path_of(m),
            "hierarchy": {k: str(v) for k, v in m["Hierarchy"].items()},
            "timestamp": None if ts is None else float(ts),
        }


def under(path, prefix):
    """Whole-level prefix match, as the API defines it."""
    return not prefix or path == prefix or path.startswith(prefix + "::")


def key_order(paths):
    """The aggregate table's (and the state table's) key order: UTF-8 bytes."""
    return sorted(paths, key=lambda p: p.encode("utf-8"))
