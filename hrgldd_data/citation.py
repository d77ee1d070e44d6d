"""The HR-GLDD paper's citation, written once: every card, builder and loader uses it."""

from __future__ import annotations

PAPER_DOI = "10.5194/essd-15-3283-2023"
#: The published arrays of the paper (Zenodo).
ZENODO_DOI = "10.5281/zenodo.7189381"
PAPER_TITLE = (
    "HR-GLDD: a globally distributed dataset using generalized deep learning for rapid landslide "
    "mapping on high-resolution satellite imagery"
)
#: Authors as (family name, given names), in the order of the ESSD article.
PAPER_AUTHORS: tuple[tuple[str, str], ...] = (
    ("Meena", "Sansar Raj"),
    ("Nava", "Lorenzo"),
    ("Bhuyan", "Kushanav"),
    ("Puliero", "Silvia"),
    ("Soares", "Lucas Pedrosa"),
    ("Dias", "Helen Cristina"),
    ("Floris", "Mario"),
    ("Catani", "Filippo"),
)
JOURNAL, VOLUME, NUMBER, PAGES, YEAR = "Earth System Science Data", 15, 7, "3283--3298", 2023
BIBTEX_KEY = "meena2023hrgldd"


def bibtex() -> str:
    """The paper as a BibTeX entry."""
    authors = " and ".join(f"{family}, {given}" for family, given in PAPER_AUTHORS)
    fields = {
        "author": authors,
        "title": "{HR-GLDD}" + PAPER_TITLE.removeprefix("HR-GLDD"),
        "journal": JOURNAL,
        "volume": VOLUME,
        "number": NUMBER,
        "pages": PAGES,
        "year": YEAR,
        "doi": PAPER_DOI,
    }
    body = ",\n".join(f"  {key:<7} = {{{value}}}" for key, value in fields.items())
    return f"@article{{{BIBTEX_KEY},\n{body}\n}}"


def reference() -> str:
    """The paper as one line of text (authors with initials, year, title, journal, DOI)."""
    authors = ", ".join(
        f"{family}, {' '.join(part[0] + '.' for part in given.split())}"
        for family, given in PAPER_AUTHORS
    )
    pages = PAGES.replace("--", "-")
    return f"{authors} ({YEAR}): {PAPER_TITLE}. {JOURNAL} {VOLUME}, {pages}. doi:{PAPER_DOI}"


__all__ = ["PAPER_DOI", "ZENODO_DOI", "bibtex", "reference"]
