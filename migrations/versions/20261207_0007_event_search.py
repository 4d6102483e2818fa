"""full-text search over events: an index each engine keeps itself, in the writing transaction

Reviewed by hand. What is searched: the event's title, description and venue, its speakers
(the JSON list, decoded) and its programme's name and code. Every write to an event, and a
new name or code for a programme, re-indexes through triggers, so the index changes in the
same transaction as the row and no code path can forget it.

SQLite: an FTS5 table event_search(title, description, venue, programme, speakers), rowid =
events.id, tokenizer unicode61 with remove_diacritics 2 (case and accents ignored). It keeps
its own copy of the text rather than being contentless or reading events (external
content): SQLite 3.40 deletes from those only when handed the exact text that was indexed,
and a trigger that got it wrong once would corrupt the index silently; a plain table deletes
by rowid. Every word typed is a prefix, and FTS5 answers a prefix by merging the entries
of every term that starts with it, which for a common word ("talk" in every description)
costs as much as reading all of them; prefix indexes of 1 to 8 characters make a prefix of
that length one term to look up instead (at 20,000 events "talk 19999" went from 1.3 ms to
0.05 ms), for an index about four times larger (13 MB at 20,000 events). FTS5 adds shadow
tables named event_search_*.

PostgreSQL: events.search_vector (tsvector) with a GIN index, set by a BEFORE trigger (a
generated column cannot read the programme's name). The text is unaccented (the unaccent
extension: in contrib, and trusted since PostgreSQL 13, so the database's owner may create
it), lower-cased, and its ASCII punctuation made spaces before the 'simple' configuration
parses it, so "perf.event", "a@b.org" or "1.5" are words apart, as FTS5 splits them; title
weighs A, programme and speakers B, venue C, description D (its words without positions). event_search_query() turns the
words typed into a prefix query (every word required) by the same steps, so both sides are
normalised alike. The extension stays on the way down: other objects may use it.

Also the index events(category, status), declared in the model: the listing reads its
category filter's choices off it, one category at a time, instead of every event.

On SQLite a later batch migration that rebuilds events or programmes drops their triggers
with the old table: such a migration must create them again (tests/catalogue/test_search.py
fails if it does not).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# --- SQLite ---------------------------------------------------------------------------------

# What one event contributes, as the values of an INSERT; `e` is the event row (NEW in a
# trigger). Speakers through json_each, which decodes JSON escapes (the ORM writes "é" as
# "\u00e9"); a value that is not JSON indexes no speakers rather than failing the write.
SQLITE_ROW = """
    {e}.id, {e}.title, {e}.description, {e}.venue,
    (SELECT name || ' ' || code FROM programmes WHERE id = {e}.programme_id),
    (SELECT group_concat(value, ' ') FROM json_each(CASE WHEN json_valid({e}.speakers) THEN {e}.speakers END))
"""
SQLITE_INSERT = "INSERT INTO event_search (rowid, title, description, venue, programme, speakers) SELECT " + SQLITE_ROW

SQLITE_UP = [
    """CREATE VIRTUAL TABLE event_search USING fts5(
        title, description, venue, programme, speakers,
        tokenize = 'unicode61 remove_diacritics 2',
        prefix = '1 2 3 4 5 6 7 8'
    )""",
    SQLITE_INSERT.format(e="events") + " FROM events",
    f"""CREATE TRIGGER events_search_insert AFTER INSERT ON events BEGIN
        {SQLITE_INSERT.format(e="new")};
    END""",
    f"""CREATE TRIGGER events_search_update AFTER UPDATE OF id, title, description, venue, programme_id, speakers ON events BEGIN
        DELETE FROM event_search WHERE rowid = old.id;
        {SQLITE_INSERT.format(e="new")};
    END""",
    """CREATE TRIGGER events_search_delete AFTER DELETE ON events BEGIN
        DELETE FROM event_search WHERE rowid = old.id;
    END""",
    """CREATE TRIGGER programmes_search_update AFTER UPDATE OF name, code ON programmes BEGIN
        UPDATE event_search SET programme = new.name || ' ' || new.code
        WHERE rowid IN (SELECT id FROM events WHERE programme_id = new.id);
    END""",
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS programmes_search_update",
    "DROP TRIGGER IF EXISTS events_search_delete",
    "DROP TRIGGER IF EXISTS events_search_update",
    "DROP TRIGGER IF EXISTS events_search_insert",
    "DROP TABLE IF EXISTS event_search",
]

# --- PostgreSQL -----------------------------------------------------------------------------

# The 32 ASCII punctuation characters, each made a space (translate() deletes those without
# a counterpart, hence as many spaces). Written out rather than [[:punct:]]: a regular
# expression's classes follow the database's locale, this does not.
PUNCTUATION = "!\"#$%&''()*+,-./:;<=>?@[\\]^_`{|}~"

PG_UP = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    f"""CREATE FUNCTION event_search_text(value text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT
    AS $$ SELECT translate(lower(unaccent(value)), '{PUNCTUATION}', repeat(' ', 32)) $$""",
    # The description's words go in without their positions (strip): ts_rank weighs a word
    # that has none as D, the description's weight, and ranking a query of several words
    # compares every position of each word with every position of the others, which over a
    # long description ("A talk." forty times) took up to 1.6 s a search at 20,000 events.
    """CREATE FUNCTION event_search_document(title text, description text, venue text, speakers json, programme text)
    RETURNS tsvector LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT
        setweight(to_tsvector('simple', event_search_text(coalesce(title, ''))), 'A')
        || setweight(to_tsvector('simple', event_search_text(coalesce(programme, '') || ' ' || coalesce(
            CASE WHEN json_typeof(speakers) = 'array'
            THEN (SELECT string_agg(s, ' ') FROM json_array_elements_text(speakers) AS s) END, ''))), 'B')
        || setweight(to_tsvector('simple', event_search_text(coalesce(venue, ''))), 'C')
        || strip(to_tsvector('simple', event_search_text(coalesce(description, ''))))
    $$""",
    # Each word typed becomes the lexemes the document side would make of it, each a prefix,
    # all required. The lexemes hold no quote or backslash (punctuation is gone), so quoting
    # them is enough for tsquery's syntax. No words: NULL, which matches nothing.
    """CREATE FUNCTION event_search_query(words text) RETURNS tsquery
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT string_agg(quote_literal(lexeme) || ':*', ' & ')::tsquery
          FROM unnest(to_tsvector('simple', event_search_text(coalesce(words, '')))) $$""",
    "ALTER TABLE events ADD COLUMN search_vector tsvector",
    """UPDATE events SET search_vector = event_search_document(
        title, description, venue, speakers,
        (SELECT name || ' ' || code FROM programmes WHERE programmes.id = events.programme_id))""",
    "CREATE INDEX ix_events_search_vector ON events USING gin (search_vector)",
    """CREATE FUNCTION events_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search_vector := event_search_document(
            NEW.title, NEW.description, NEW.venue, NEW.speakers,
            (SELECT name || ' ' || code FROM programmes WHERE id = NEW.programme_id));
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER events_search_vector
    BEFORE INSERT OR UPDATE OF title, description, venue, speakers, programme_id ON events
    FOR EACH ROW EXECUTE FUNCTION events_search_vector()""",
    """CREATE FUNCTION programmes_search_reindex() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE events SET search_vector = event_search_document(
            title, description, venue, speakers, NEW.name || ' ' || NEW.code)
        WHERE programme_id = NEW.id;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER programmes_search_reindex
    AFTER UPDATE OF name, code ON programmes
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.code IS DISTINCT FROM NEW.code)
    EXECUTE FUNCTION programmes_search_reindex()""",
]

PG_DOWN = [
    "DROP TRIGGER IF EXISTS programmes_search_reindex ON programmes",
    "DROP FUNCTION IF EXISTS programmes_search_reindex()",
    "DROP TRIGGER IF EXISTS events_search_vector ON events",
    "DROP FUNCTION IF EXISTS events_search_vector()",
    "DROP INDEX IF EXISTS ix_events_search_vector",
    "ALTER TABLE events DROP COLUMN IF EXISTS search_vector",
    "DROP FUNCTION IF EXISTS event_search_query(text)",
    "DROP FUNCTION IF EXISTS event_search_document(text, text, text, json, text)",
    "DROP FUNCTION IF EXISTS event_search_text(text)",
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    _run(PG_UP if op.get_bind().dialect.name == 'postgresql' else SQLITE_UP)
    op.create_index('ix_events_category_status', 'events', ['category', 'status'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_events_category_status', table_name='events')
    _run(PG_DOWN if op.get_bind().dialect.name == 'postgresql' else SQLITE_DOWN)
