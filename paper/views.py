"""What a printed page shows, with every text already in the reader's language.

These are plain values the layout draws and the self-check compares against. They
know nothing of the manifest: an adapter fills them from the manifest (contest titles
per language, "vote for up to k", selection labels, styles) once ``e2e.manifest`` is
settled, resolving each text to the voter's language and adding the English version
where the jurisdiction requires it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from e2e.errors import InvalidBallot, UsageError
from paper.ids import BallotId
from paper.payload import ReceiptPayload

__all__ = [
    "ENGLISH",
    "BallotRecordView",
    "ContestOptionsView",
    "ContestView",
    "Label",
    "PaperStrings",
    "ReceiptView",
    "StyleView",
]


@dataclass(frozen=True, slots=True)
class Label:
    """A text in the reader's language and, where required, its English version.

    ``english`` is None when English is not required or ``text`` is English already.
    """

    text: str
    english: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise UsageError("a label needs non-blank text")
        if self.english is not None and (
            not isinstance(self.english, str) or not self.english.strip()
        ):
            raise UsageError("an English version, if given, needs non-blank text")

    def lines(self) -> tuple[str, ...]:
        """The texts to print: the reader's language, then English if it differs."""
        if self.english is None or self.english == self.text:
            return (self.text,)
        return (self.text, self.english)


@dataclass(frozen=True, slots=True)
class PaperStrings:
    """The fixed phrases of the paper, in the reader's language (+ English).

    ``vote_for`` holds ``{k}`` where the limit goes. Every field is printed, so a
    translation that drops a phrase cannot silently drop it from the paper.
    """

    vote_of_record: Label
    no_selection: Label
    vote_for: Label
    ballot_id: Label
    ballot_style: Label
    test_stamp: Label
    duplicate_stamp: Label
    receipt_title: Label
    tracking_code: Label
    cast: Label
    challenged: Label
    cast_explanation: Label
    challenged_explanation: Label
    no_choices: Label
    ledger_position: Label
    check_at: Label
    complain: Label
    # A poll worker's stamp on a challenged ballot's paper; the same in every language
    # by default, since officials sort paper by it.
    spoiled_stamp: Label = Label("SPOILED")

    def __post_init__(self) -> None:
        for label in (self.vote_for.text, self.vote_for.english):
            if label is not None and "{k}" not in label:
                raise UsageError("the 'vote for' phrase must hold {k}")


ENGLISH = PaperStrings(
    vote_of_record=Label("The printed text is your vote of record."),
    no_selection=Label("no selection"),
    vote_for=Label("Vote for up to {k}"),
    ballot_id=Label("Ballot ID"),
    ballot_style=Label("Ballot style"),
    test_stamp=Label("TEST"),
    duplicate_stamp=Label("DUPLICATE"),
    receipt_title=Label("Voter receipt"),
    tracking_code=Label("Tracking code"),
    cast=Label("CAST"),
    challenged=Label("CHALLENGED"),
    cast_explanation=Label(
        "Your ballot was cast and recorded on the public ledger. Look up the tracking "
        "code to see that it is there."
    ),
    challenged_explanation=Label(
        "This ballot was challenged and will NOT be counted. Scan the code with a phone "
        "or computer of your own to check that it recorded your choices, then vote again."
    ),
    no_choices=Label("This receipt does not show your choices."),
    ledger_position=Label("Ledger position"),
    check_at=Label("Check at"),
    complain=Label("If something is wrong, tell a poll worker or complain to"),
)


@dataclass(frozen=True, slots=True)
class ContestView:
    """One contest as voted: the chosen options' labels, empty for no selection."""

    title: Label
    vote_for: int
    chosen: tuple[Label, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.vote_for, int) or self.vote_for < 1:
            raise UsageError("a contest's 'vote for' limit is at least 1")
        if not isinstance(self.chosen, tuple):
            raise UsageError("chosen must be a tuple of labels")
        if len(self.chosen) > self.vote_for:
            raise InvalidBallot(
                f"{len(self.chosen)} choices where at most {self.vote_for} are allowed",
                self.title.text,
            )


@dataclass(frozen=True, slots=True)
class BallotRecordView:
    """Everything the ballot record card shows, in the voter's language (+ English)."""

    election_name: Label
    jurisdiction: Label
    date: Label
    style_label: Label
    language: str
    contests: tuple[ContestView, ...]
    ballot_id: BallotId
    test_mode: bool
    remake: int = 0
    strings: PaperStrings = field(default=ENGLISH)

    def __post_init__(self) -> None:
        if not self.contests:
            raise UsageError("a ballot record shows at least one contest")
        if not isinstance(self.ballot_id, BallotId):
            raise UsageError("ballot_id must be a BallotId")


@dataclass(frozen=True, slots=True)
class ContestOptionsView:
    """One contest of a style, with every option it offers (for the capacity check)."""

    title: Label
    vote_for: int
    options: tuple[Label, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.vote_for, int) or self.vote_for < 1:
            raise UsageError("a contest's 'vote for' limit is at least 1")


@dataclass(frozen=True, slots=True)
class StyleView:
    """A ballot style as the capacity check sees it (worst case over all voters)."""

    election_name: Label
    jurisdiction: Label
    date: Label
    style_label: Label
    language: str
    contests: tuple[ContestOptionsView, ...]
    strings: PaperStrings = field(default=ENGLISH)


@dataclass(frozen=True, slots=True)
class ReceiptView:
    """Everything a receipt shows; the QR is ``payload``, the tracking code comes from it."""

    election_name: Label
    jurisdiction: Label
    date: Label
    language: str
    payload: ReceiptPayload
    check_url: str
    complaint_contact: Label
    complaint_deadline: Label
    strings: PaperStrings = field(default=ENGLISH)

    @property
    def test_mode(self) -> bool:
        return self.payload.test

