"""What a chat question may read: the filter form's values as ``Filters``, and that filter in words.

The chat shows the active filter beside every answer it applies to, so a reader never mistakes
"the articles I picked don't say" for "the articles don't say". Kept apart from gradio so it can
be tested (and imported) without it.

Example:
    >>> filters_from_form(["putin-and-the-ayatollah"], "2016-01-01", "", "")
    Filters(article_ids=['putin-and-the-ayatollah'], ..., published_from=datetime.date(2016, 1, 1), ...)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from qa.errors import QueryError
from qa.retrieval import Filters

_SHOWN_TITLES = 3  # titles named in the description; more are counted


def parse_date(text: str | None, label: str) -> dt.date | None:
    """``text`` as a date (``YYYY-MM-DD``, or a bare year), or None when it is blank.

    Raises:
        QueryError: it is not a date; the message names the box (``label``) and the format.
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        if text.isdigit() and len(text) == 4:
            return dt.date(int(text), 1, 1) if label == "from" else dt.date(int(text), 12, 31)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise QueryError(f"“{text}” in “published {label}” is not a date; write it as YYYY-MM-DD "
                         "(or a year), or leave it empty.") from None


def filters_from_form(article_ids: Sequence[str] | None, published_from: str | None,
                      published_to: str | None, author: str | None) -> Filters | None:
    """The chat form's filter, or None when every box is empty (ask all articles).

    Raises:
        QueryError: a date is malformed, or the range ends before it starts.
    """
    start, end = parse_date(published_from, "from"), parse_date(published_to, "to")
    if start and end and end < start:
        raise QueryError(f"The date range ends ({end}) before it starts ({start}); swap the dates.")
    filters = Filters(article_ids=list(article_ids) if article_ids else None,
                      author_contains=(author or "").strip() or None,
                      published_from=start, published_to=end)
    return None if filters == Filters() else filters


def check_articles(filters: Filters | None, titles: Mapping[str, str]) -> None:
    """Refuse a filter naming an article that ``titles`` (id: title of every indexed article)
    lacks. The chat's article list takes typed values, so that an API client may name an article
    added since the app started; a typed word that is no article's id would otherwise ask no
    article at all and decline every question.

    Raises:
        QueryError: names the first unknown id.
    """
    unknown = [i for i in (filters.article_ids or []) if i not in titles] if filters else []
    if unknown:
        raise QueryError(f"“{unknown[0]}” is not the id of an indexed article; choose the articles "
                         "from the list.")


def describe(filters: Filters | None, titles: Mapping[str, str]) -> str:
    """The filter as one plain sentence ("" for none); ``titles`` maps article ids to titles."""
    if filters is None:
        return ""
    parts: list[str] = []
    if filters.article_ids:
        named = [f"“{titles.get(i, i)}”" for i in filters.article_ids[:_SHOWN_TITLES]]
        more = len(filters.article_ids) - len(named)
        parts.append(", ".join(named) + (f" and {more} more" if more else ""))
    if filters.title_contains:
        parts.append(f"titles containing “{filters.title_contains}”")
    if filters.author_contains:
        parts.append(f"by an author matching “{filters.author_contains}”")
    start, end = filters.published_from, filters.published_to
    if start and end:
        parts.append(f"published {start.isoformat()} to {end.isoformat()}")
    elif start:
        parts.append(f"published on or after {start.isoformat()}")
    elif end:
        parts.append(f"published on or before {end.isoformat()}")
    return "Asked only: " + "; ".join(parts) + "." if parts else ""
