"""The per-process cache of built public feeds: bounded, and one build per key at a time."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from portal.catalogue.feeds import CALENDAR_TYPE, Feed
from portal.errors import NotFound
from portal.web.feeds import FeedCache, FeedEntry


def _entry(size: int = 10) -> FeedEntry:
    return FeedEntry.of(Feed(b"x" * size, CALENDAR_TYPE, datetime(2026, 1, 1, tzinfo=timezone.utc)))


def test_bounded_by_entries_and_bytes():
    cache = FeedCache(max_entries=3, max_bytes=10_000)
    for key in "abcd":
        cache.put(key, _entry())
    assert len(cache) == 3 and cache.get("a") is None and cache.get("d") is not None

    cache = FeedCache(max_entries=10, max_bytes=5_000)
    cache.put("small", _entry(100))
    cache.put("big", _entry(4_000))  # gzip of 4,000 repeated bytes is tiny
    cache.put("bigger", _entry(4_500))
    assert cache.get("small") is None and cache.get("big") is None and cache.get("bigger") is not None


def test_concurrent_misses_share_one_build():
    cache = FeedCache()
    builds = 0

    async def build() -> FeedEntry:
        nonlocal builds
        builds += 1
        await asyncio.sleep(0.01)
        return _entry()

    async def main() -> list[FeedEntry]:
        return await asyncio.gather(*(cache.get_or_build("k", build) for _ in range(20)))

    entries = asyncio.run(main())
    assert builds == 1
    assert all(e is entries[0] for e in entries)
    assert cache.get("k") is entries[0]


def test_a_failed_build_fails_its_waiters_and_is_not_kept():
    cache = FeedCache()

    async def build() -> FeedEntry:
        await asyncio.sleep(0.01)
        raise NotFound("no such programme")

    async def main() -> list[object]:
        return await asyncio.gather(*(cache.get_or_build("k", build) for _ in range(3)), return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, NotFound) for r in results)
    assert cache.get("k") is None
    with pytest.raises(NotFound):
        asyncio.run(cache.get_or_build("k", build))
