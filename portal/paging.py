"""Page arithmetic for every paginated list: how many pages, and which page to show."""

from __future__ import annotations


def page_count(total: int, per_page: int) -> int:
    """How many pages `total` items fill; an empty list still has its one (empty) page."""
    return max(1, -(-total // per_page))


def clamp_page(page: int, total: int, per_page: int) -> int:
    """The page to show for a requested one: a page past the last (an old link, a typed
    number) shows the last page, not "page 999 of 2"."""
    return min(max(1, page), page_count(total, per_page))


def offset(page: int, per_page: int) -> int:
    return (page - 1) * per_page


class Paged:
    """What a page of a list knows of its place: mixed into the dataclasses that services
    return, which have `total`, `page` and `per_page`."""

    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1
