"""Tests for lstm_course.dates: human-written dates → ISO."""
import datetime as dt
import re

import pytest

from lstm_course.dates import (FORMATS, date_vocabs, format_date, make_date_pairs, ordinal, parse_iso)

MONTHS = {m.lower(): i + 1 for i, m in enumerate(
    "january february march april may june july august september october november december".split())}


def test_ordinal():
    assert [ordinal(k) for k in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]


def test_format_hand_cases():
    d = dt.date(1994, 3, 3)  # a Thursday
    assert format_date(d, "ord_of_month_y") == "3rd of March 1994"
    assert format_date(d, "weekday_month_d_comma_y") == "Thursday, March 3, 1994"
    assert format_date(d, "wd3_d_mon_y", case="upper") == "THU 3 MAR 1994"
    assert format_date(dt.date(2001, 12, 9), "us_slash") == "12/9/2001"
    assert format_date(dt.date(2001, 12, 9), "eu_dot_padded") == "09.12.2001"
    assert format_date(dt.date(2001, 12, 9), "compact") == "20011209"
    with pytest.raises(ValueError, match="expected a format"):
        format_date(d, "klingon")


def _reparse(src: str) -> dt.date:
    """An independent reading of the source string, used to check the targets."""
    s = src.lower()
    nums = [int(x) for x in re.findall(r"\d+", s)]
    month = next((v for k, v in MONTHS.items() if k[:3] in s.split("-") or re.search(rf"\b{k[:3]}", s)), None)
    if month is not None:
        year = next(x for x in nums if x >= 1900)
        day = next(x for x in nums if x < 1900)
        return dt.date(year, month, day)
    if re.fullmatch(r"\d{8}", s):
        return dt.date(int(s[:4]), int(s[4:6]), int(s[6:]))
    if "." in s:
        day, month, year = nums
    elif re.match(r"\d{4}", s):
        year, month, day = nums
    else:  # "/" with the year last: US month/day
        month, day, year = nums
    return dt.date(year, month, day)


def test_pairs_are_valid_consistent_and_cover_all_formats():
    pairs = make_date_pairs(3000, seed=0)
    assert len(pairs) == 3000
    for src, tgt in pairs:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", tgt)
        d = parse_iso(tgt)
        assert d is not None and 1900 <= d.year <= 2099
        assert _reparse(src) == d, src
        if any(w in src.lower() for w in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")):
            wd = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][d.weekday()]
            assert src.lower().startswith(wd), src  # the weekday is the true one
    sources = {s for s, _ in pairs}
    assert len(sources) > 2900  # varied
    assert any(s.islower() and s[0].isalpha() for s in sources) and any(s.isupper() for s in sources)
    years = [int(t[:4]) for _, t in pairs]
    assert min(years) < 1910 and max(years) > 2089  # the whole range 1900-2099 is drawn from


def test_deterministic_per_seed_and_format_subset():
    assert make_date_pairs(50, seed=7) == make_date_pairs(50, seed=7)
    assert make_date_pairs(50, seed=7) != make_date_pairs(50, seed=8)
    only = make_date_pairs(100, seed=1, formats=["compact"])
    assert all(re.fullmatch(r"\d{8}", s) and s == t.replace("-", "") for s, t in only)
    assert make_date_pairs(0) == []


def test_leap_days_appear_and_are_valid():
    pairs = make_date_pairs(20000, seed=3, formats=["iso"])
    leap = [t for _, t in pairs if t[5:] == "02-29"]
    assert leap and all(dt.date.fromisoformat(t).year % 4 == 0 for t in leap)
    assert not any(t[:4] == "1900" for t in leap)  # 1900 was not a leap year


def test_vocabs_cover_every_pair():
    src_v, tgt_v = date_vocabs()
    for src, tgt in make_date_pairs(2000, seed=5):
        src_v.encode(src)  # raises ValueError on an uncovered character
        tgt_v.encode(tgt)
    assert len(tgt_v) == 11


def test_parse_iso_and_errors():
    assert parse_iso("2000-02-29") == dt.date(2000, 2, 29)
    assert parse_iso("1900-02-29") is None and parse_iso("2000-2-9") is None and parse_iso("garbage!!") is None
    with pytest.raises(ValueError, match="n >= 0"):
        make_date_pairs(-1)
    with pytest.raises(ValueError, match="expected formats from"):
        make_date_pairs(3, formats=["nope"])
    assert len(FORMATS) >= 20


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_reads_back_to_its_target(fmt):
    for src, tgt in make_date_pairs(40, seed=11, formats=[fmt]):
        assert _reparse(src) == dt.date.fromisoformat(tgt), (fmt, src)
