"""The manifest's capacity rule: every ballot style prints legibly on one card.

DESIGN.md ("Paper"): one card per ballot, every choice in large type. A manifest is
accepted for printing only if, for every ballot style and every language of the
manifest (with English beside it, as the kiosk prints it: ``paper.manifest_views``),
the worst-case card — the longest options chosen in every contest, TEST and DUPLICATE
stamps, the longest IDs — fits one card at the minimum type sizes
(``paper.layout.check_style_fits``). Otherwise ``check_manifest_fits`` raises
``LegibilityError`` naming the style, the language and why.

``e2e`` cannot import ``paper``, so the app layer applies this rule where a manifest is
accepted: ``paperchain election setup`` and the demo, before the setup entry.
"""

from __future__ import annotations

from collections.abc import Sequence

from e2e.manifest import Manifest
from paper.layout import (
    DEFAULT_FONTS,
    LETTER,
    CardFormat,
    FontFiles,
    LegibilityError,
    check_style_fits,
)
from paper.manifest_views import label_of, paper_strings
from paper.views import ContestOptionsView, Label, StyleView

__all__ = ["check_manifest_fits", "style_view"]


def style_view(manifest: Manifest, style_id: str, language: str) -> StyleView:
    """A ballot style with every option, as the card would print it in ``language``."""
    style = manifest.style(style_id)
    contests = tuple(
        ContestOptionsView(label_of(contest.title, language), contest.vote_for,
                           tuple(label_of(s.label, language) for s in contest.selections))
        for _, contest in manifest.contests_of_style(style.id))
    return StyleView(
        election_name=label_of(manifest.name, language),
        jurisdiction=label_of(manifest.jurisdiction, language),
        date=Label(manifest.date.isoformat()), style_label=label_of(style.label, language),
        language=language, contests=contests, strings=paper_strings(language))


def check_manifest_fits(manifest: Manifest, *, card: CardFormat = LETTER,
                        fonts: FontFiles = DEFAULT_FONTS,
                        languages: Sequence[str] | None = None) -> None:
    """Return None if every style fits one card in every language, else raise
    ``LegibilityError`` (a ``ManifestError``) for the first that does not."""
    for style in manifest.ballot_styles:
        for language in languages or manifest.languages:
            try:
                check_style_fits(style_view(manifest, style.id, language), card=card,
                                 fonts=fonts)
            except LegibilityError as err:
                raise LegibilityError(err.reason, f"ballot style {style.id!r} in language "
                                                  f"{language!r}") from None
