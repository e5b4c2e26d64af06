"""Date normalisation: human-written dates in many formats → ISO ``YYYY-MM-DD`` (seq2seq data).

    ("3rd of March 1994", "1994-03-03"), ("Thu 3 Mar 1994", "1994-03-03"), ("3/3/1994", "1994-03-03")

Pairs are generated on the fly, valid dates only (1900-01-01 to 2099-12-31, leap years included),
deterministic per seed. Month and weekday names are hard-coded English, so the output does not
depend on the machine's locale (``strftime("%B")`` would).

Numeric formats follow one convention per separator so that every input has exactly one answer:
``/`` is US month/day/year, ``.`` is European day.month.year, ``-`` and no separator are year first.

Character vocabularies: :func:`date_vocabs` gives :class:`~lstm_course.vocab.CharVocab` objects over
every character the formats can produce; the special start/end/padding tokens are added by
:mod:`lstm_course.seq2seq`, not here.
"""
from __future__ import annotations

import datetime as dt
import random
from typing import Callable, Optional, Sequence

from .vocab import CharVocab

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]  # date.weekday() order
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2099, 12, 31)


def ordinal(n: int) -> str:
    """English ordinal: 1 → "1st", 2 → "2nd", 3 → "3rd", 11 → "11th", 22 → "22nd"."""
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _mon(d: dt.date) -> str:
    return MONTHS[d.month - 1]


def _mon3(d: dt.date) -> str:
    return MONTHS[d.month - 1][:3]


def _wd(d: dt.date) -> str:
    return WEEKDAYS[d.weekday()]


# name -> formatter. Worded formats may also be lower- or upper-cased by make_date_pairs.
FORMATS: dict[str, Callable[[dt.date], str]] = {
    "d_month_y": lambda d: f"{d.day} {_mon(d)} {d.year}",
    "dd_month_y": lambda d: f"{d.day:02d} {_mon(d)} {d.year}",
    "d_mon_y": lambda d: f"{d.day} {_mon3(d)} {d.year}",
    "month_d_comma_y": lambda d: f"{_mon(d)} {d.day}, {d.year}",
    "mon_d_comma_y": lambda d: f"{_mon3(d)} {d.day}, {d.year}",
    "month_d_y": lambda d: f"{_mon(d)} {d.day} {d.year}",
    "month_ord_comma_y": lambda d: f"{_mon(d)} {ordinal(d.day)}, {d.year}",
    "ord_of_month_y": lambda d: f"{ordinal(d.day)} of {_mon(d)} {d.year}",
    "the_ord_of_month_comma_y": lambda d: f"the {ordinal(d.day)} of {_mon(d)}, {d.year}",
    "ord_month_y": lambda d: f"{ordinal(d.day)} {_mon(d)} {d.year}",
    "weekday_month_d_comma_y": lambda d: f"{_wd(d)}, {_mon(d)} {d.day}, {d.year}",
    "weekday_d_month_y": lambda d: f"{_wd(d)} {d.day} {_mon(d)} {d.year}",
    "wd3_d_mon_y": lambda d: f"{_wd(d)[:3]} {d.day} {_mon3(d)} {d.year}",
    "wd3_comma_dd_mon_y": lambda d: f"{_wd(d)[:3]}, {d.day:02d} {_mon3(d)} {d.year}",
    "y_month_d": lambda d: f"{d.year} {_mon(d)} {d.day}",
    "dd-mon-y": lambda d: f"{d.day:02d}-{_mon3(d)}-{d.year}",
    "us_slash": lambda d: f"{d.month}/{d.day}/{d.year}",
    "us_slash_padded": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",
    "eu_dot": lambda d: f"{d.day}.{d.month}.{d.year}",
    "eu_dot_padded": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    "iso": lambda d: d.isoformat(),
    "y_slash_m_d": lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",
    "compact": lambda d: f"{d.year}{d.month:02d}{d.day:02d}",
}
_WORDED = {name for name, f in FORMATS.items() if any(c.isalpha() for c in f(dt.date(2000, 1, 1)))}


def format_date(date: dt.date, fmt: str, case: str = "title") -> str:
    """Write ``date`` in the format named ``fmt`` (a key of :data:`FORMATS`).

    Args:
        date: a ``datetime.date``.
        fmt: format name, e.g. ``"ord_of_month_y"`` → ``"3rd of March 1994"``.
        case: ``"title"`` (as written in FORMATS), ``"lower"`` or ``"upper"``. Default: ``"title"``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"expected a format in {sorted(FORMATS)}, got {fmt!r}")
    s = FORMATS[fmt](date)
    if case == "lower":
        return s.lower()
    if case == "upper":
        return s.upper()
    if case != "title":
        raise ValueError(f"expected case 'title', 'lower' or 'upper', got {case!r}")
    return s


def make_date_pairs(n: int, seed: int = 0, formats: Optional[Sequence[str]] = None) -> list[tuple[str, str]]:
    """Generate ``n`` (human-written date, ISO date) pairs.

    Args:
        n: number of pairs (>= 0).
        seed: seed of a private ``random.Random`` (the global RNG is untouched). Default: 0.
        formats: restrict to these :data:`FORMATS` names (e.g. to hold some formats out for a
            generalisation test). Default: ``None`` = all.

    Each pair draws a date uniformly from 1900-01-01 … 2099-12-31, a format uniformly, and, for
    worded formats, a case (title 70 %, lower 20 %, upper 10 %). Same arguments → same list.

    Returns:
        list of ``(source, target)`` with target ``"YYYY-MM-DD"`` (10 characters).
    """
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"expected n >= 0, got {n}")
    names = sorted(FORMATS) if formats is None else list(formats)
    if not names:
        raise ValueError("expected at least one format, got none")
    for name in names:
        if name not in FORMATS:
            raise ValueError(f"expected formats from {sorted(FORMATS)}, got {name!r}")
    rng = random.Random(seed)
    lo, hi = FIRST_DAY.toordinal(), LAST_DAY.toordinal()
    pairs = []
    for _ in range(n):
        date = dt.date.fromordinal(rng.randint(lo, hi))
        name = names[rng.randrange(len(names))]
        case = "title"
        if name in _WORDED:
            r = rng.random()
            case = "lower" if r < 0.2 else ("upper" if r < 0.3 else "title")
        pairs.append((format_date(date, name, case), date.isoformat()))
    return pairs


def parse_iso(s: str) -> Optional[dt.date]:
    """The date in an ISO ``YYYY-MM-DD`` string, or ``None`` if it is not a valid one (for scoring
    model outputs, which may be malformed)."""
    try:
        if len(s) != 10:
            return None
        return dt.date.fromisoformat(s)
    except ValueError:
        return None


def date_vocabs() -> tuple[CharVocab, CharVocab]:
    """(source, target) character vocabularies covering every character :data:`FORMATS` can write
    in any case, and the ISO targets (digits and "-"). No special tokens (see module docstring)."""
    words = " ".join(MONTHS + WEEKDAYS + ["of the st nd rd th"])
    chars = set(words) | set(words.lower()) | set(words.upper()) | set("0123456789 ,./-")
    return CharVocab(sorted(chars)), CharVocab(sorted(set("0123456789-")))
