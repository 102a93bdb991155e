"""Views of the paper filled from the manifest, in the voter's language (+ English).

``paper.views`` holds plain values and knows nothing of the manifest; this adapter
builds them for a kiosk: the ballot record of a voter's choices (choices in ballot
order, "no selection" for none) and the receipt, every text in the language the voter
chose at the kiosk and, when that is not English, its English version beside it.
"""

from __future__ import annotations

from collections.abc import Mapping

from e2e.errors import UsageError
from e2e.manifest import ENGLISH as ENGLISH_CODE
from e2e.manifest import Manifest, Text
from paper.ids import BallotId
from paper.payload import ReceiptPayload
from paper.views import ENGLISH, BallotRecordView, ContestView, Label, PaperStrings, ReceiptView

__all__ = ["label_of", "paper_strings", "receipt_view", "record_view"]

_SPANISH = PaperStrings(
    vote_of_record=Label("El texto impreso es su voto oficial.",
                         "The printed text is your vote of record."),
    no_selection=Label("ninguna selección", "no selection"),
    vote_for=Label("Vote por hasta {k}", "Vote for up to {k}"),
    ballot_id=Label("Número de boleta", "Ballot ID"),
    ballot_style=Label("Estilo de boleta", "Ballot style"),
    test_stamp=Label("TEST"),
    duplicate_stamp=Label("DUPLICATE"),
    receipt_title=Label("Recibo del votante", "Voter receipt"),
    tracking_code=Label("Código de seguimiento", "Tracking code"),
    cast=Label("EMITIDO", "CAST"),
    challenged=Label("IMPUGNADO", "CHALLENGED"),
    cast_explanation=Label(
        "Su boleta fue emitida y registrada en el registro público. Busque el código de "
        "seguimiento para ver que está allí.",
        ENGLISH.cast_explanation.text),
    challenged_explanation=Label(
        "Esta boleta fue impugnada y NO se contará. Escanee el código con su propio "
        "teléfono o computadora para verificar que registró sus selecciones, y vote de nuevo.",
        ENGLISH.challenged_explanation.text),
    no_choices=Label("Este recibo no muestra sus selecciones.",
                     "This receipt does not show your choices."),
    ledger_position=Label("Posición en el registro", "Ledger position"),
    check_at=Label("Verifique en", "Check at"),
    complain=Label("Si algo está mal, avise a un trabajador electoral o reclame a",
                   ENGLISH.complain.text),
)

# The fixed phrases of the paper per language; a language without its own falls back
# to English (the manifest's texts are still printed in the voter's language).
_STRINGS: Mapping[str, PaperStrings] = {ENGLISH_CODE: ENGLISH, "es": _SPANISH}


def paper_strings(language: str) -> PaperStrings:
    """The paper's fixed phrases in ``language`` (with English), English if none."""
    return _STRINGS.get(language, ENGLISH)


def label_of(text: Text, language: str) -> Label:
    """A manifest text in ``language``, with its English version when that differs."""
    if language not in text:
        raise UsageError(f"language {language!r} is not one of the manifest's")
    own = text[language]
    english = text.english
    return Label(own, None if language == ENGLISH_CODE or english == own else english)


def record_view(manifest: Manifest, style_id: str, language: str,
                choices: Mapping[str, frozenset[str]], ballot_id: BallotId, *,
                test_mode: bool) -> BallotRecordView:
    """The ballot record of ``choices`` (contest ID → chosen selection IDs) on a style.

    Choices are printed in ballot order; a contest without any prints "no selection".
    """
    style = manifest.style(style_id)
    contests = []
    for _, contest in manifest.contests_of_style(style.id):
        chosen = choices.get(contest.id, frozenset())
        contests.append(ContestView(
            label_of(contest.title, language), contest.vote_for,
            tuple(label_of(s.label, language) for s in contest.selections if s.id in chosen)))
    return BallotRecordView(
        election_name=label_of(manifest.name, language),
        jurisdiction=label_of(manifest.jurisdiction, language),
        date=Label(manifest.date.isoformat()),
        style_label=label_of(style.label, language),
        language=language, contests=tuple(contests), ballot_id=ballot_id,
        test_mode=test_mode, strings=paper_strings(language))


def receipt_view(manifest: Manifest, language: str, payload: ReceiptPayload, *,
                 check_url: str, complaint_contact: str, complaint_deadline: str
                 ) -> ReceiptView:
    """The receipt of a cast or challenged ballot, in ``language`` (+ English)."""
    return ReceiptView(
        election_name=label_of(manifest.name, language),
        jurisdiction=label_of(manifest.jurisdiction, language),
        date=Label(manifest.date.isoformat()), language=language, payload=payload,
        check_url=check_url, complaint_contact=Label(complaint_contact),
        complaint_deadline=Label(complaint_deadline), strings=paper_strings(language))
