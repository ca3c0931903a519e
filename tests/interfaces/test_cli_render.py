"""The CLI's pure helpers: store URLs, rendering, account ids."""

from __future__ import annotations

import pytest

from threadjobs import MemoryJobStore
from threadjobs.cli._common import CliError, parse_account
from threadjobs.cli._render import bar, duration, table
from threadjobs.cli._store_url import open_store, parse_sentinel_url, redacted, store_url


def test_passwords_never_reach_messages() -> None:
    assert redacted("redis://app:s3cret@db:6379/0") == "redis://app:***@db:6379/0"
    assert redacted("redis://db:6379/0") == "redis://db:6379/0"


def test_the_store_url_falls_back_to_the_environment_then_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("THREADJOBS_STORE", raising=False)
    assert store_url(None) == "memory"
    monkeypatch.setenv("THREADJOBS_STORE", "redis://x:1/0")
    assert store_url(None) == "redis://x:1/0"
    assert store_url("memory") == "memory"


def test_memory_opens_a_memory_store_and_unknown_schemes_are_usage_errors() -> None:
    assert isinstance(open_store("memory"), MemoryJobStore)
    with pytest.raises(CliError, match="unknown store URL 'postgres://u:\\*\\*\\*@h/db'"):
        open_store("postgres://u:pw@h/db")


@pytest.mark.parametrize(
    ("url", "sentinels", "service", "options"),
    [
        ("redis+sentinel://s1:26379/mymaster", [("s1", 26379)], "mymaster", {}),
        (
            "redis+sentinel://:p%40ss@s1:26379,s2:26380/jobs/3",
            [("s1", 26379), ("s2", 26380)],
            "jobs",
            {"password": "p@ss", "db": 3},
        ),
        ("redis+sentinel://app:pw@[::1]:26379/m", [("::1", 26379)], "m",
         {"username": "app", "password": "pw"}),
    ],
)  # fmt: skip
def test_sentinel_urls_name_the_sentinels_the_service_and_the_master_options(
    url: str, sentinels: list[tuple[str, int]], service: str, options: dict[str, object]
) -> None:
    assert parse_sentinel_url(url) == (sentinels, service, options)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("redis+sentinel:///mymaster", "no sentinel"),
        ("redis+sentinel://s1:26379", "no service name"),
        ("redis+sentinel://s1/mymaster", "is not HOST:PORT"),
        ("redis+sentinel://s1:26379/mymaster/x", "db 'x' is not a number"),
    ],
)
def test_bad_sentinel_urls_are_usage_errors_that_say_why(url: str, why: str) -> None:
    pytest.importorskip("redis")
    with pytest.raises(CliError, match=why):
        open_store(url)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.42, "0.4s"), (12, "12s"), (185, "3m05s"), (7440, "2h04m")]
)
def test_durations_read_naturally(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_the_bar_is_filled_in_proportion_and_clamped() -> None:
    assert bar(50, width=10) == "[#####-----]"
    assert bar(150, width=4) == "[####]"
    assert bar(-5, width=4) == "[----]"


def test_tables_align_columns_and_cut_long_cells() -> None:
    text = table(["A", "B"], [["x", "y" * 100], ["long", "z"]])

    lines = text.splitlines()
    assert lines[0] == "A     B"
    assert lines[1].endswith("...") and len(lines[1]) == 6 + 48
    assert lines[2] == "long  z"


@pytest.mark.parametrize(("text", "account"), [("7", 7), (" 12 ", 12), ("acme", "acme")])
def test_digit_accounts_are_ints(text: str, account: int | str) -> None:
    assert parse_account(text) == account
