"""A made-up election to print: for the docs' images, benchmarks, tests and demos.

Nothing here is used to print a real election; real views come from the manifest.
Choices and IDs come from a seeded ``random.Random`` so every picture and benchmark
is reproducible (real ballot IDs come from ``BallotId.generate``, i.e. ``secrets``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from e2e.ledger.promise import InclusionPromise
from e2e.signing import SigningKey
from paper.ids import BallotId
from paper.payload import (
    BallotRecordPayload,
    ReceiptPayload,
    ReceiptStatus,
    make_ballot_record,
    make_receipt,
)
from paper.views import (
    ENGLISH,
    BallotRecordView,
    ContestOptionsView,
    ContestView,
    Label,
    PaperStrings,
    ReceiptView,
    StyleView,
)

__all__ = [
    "SAMPLE_ELECTION_ID",
    "SPANISH_WITH_ENGLISH",
    "SampleElection",
    "large_style",
    "sample_election",
    "small_style",
]

SAMPLE_ELECTION_ID = "2026-11-03-springfield-general"

SPANISH_WITH_ENGLISH = PaperStrings(
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
        "Su boleta fue emitida y registrada en el registro público.",
        "Your ballot was cast and recorded on the public ledger.",
    ),
    challenged_explanation=Label(
        "Esta boleta fue impugnada y NO se contará. Escanee el código con su propio "
        "teléfono para verificarla y luego vote de nuevo.",
        "This ballot was challenged and will NOT be counted. Scan the code with your own "
        "phone to check it, then vote again.",
    ),
    no_choices=Label("Este recibo no muestra sus selecciones.",
                     "This receipt does not show your choices."),
    ledger_position=Label("Posición en el registro", "Ledger position"),
    check_at=Label("Verifique en", "Check at"),
    complain=Label("Si algo está mal, avise a un trabajador electoral o reclame a",
                   "If something is wrong, tell a poll worker or complain to"),
)

_FIRST = ["Ana", "Bo", "Chidi", "Dana", "Eitan", "Fatima", "Grace", "Hiro", "Ines", "Jamal",
          "Katarzyna", "Liam", "Mei", "Nkechi", "Oren", "Priya", "Quentin", "Rosa"]
_LAST = ["Abernathy", "Bautista", "Chen", "Delacroix-Whitfield", "Eriksen", "Fontaine",
         "Gutiérrez", "Haddad", "Ivanova", "Jørgensen", "Kowalczyk", "Lindqvist", "Mbeki"]
_OFFICES = ["Governor", "Lieutenant Governor", "Secretary of State", "State Treasurer",
            "Attorney General", "State Senator, District 7", "State Representative, District 41",
            "County Commissioner", "Sheriff", "County Clerk", "School Board, Seat 3",
            "Water District Director", "Judge of the Superior Court, Department 12",
            "City Council, Ward 2", "Mayor", "Library Trustee", "Parks Commissioner",
            "Assessor", "Coroner", "Auditor", "Harbor Commissioner", "Transit Board"]


@dataclass(frozen=True, slots=True)
class SampleElection:
    """Keys and fixed texts of the made-up election."""

    election_id: str
    device_key: SigningKey
    remake_key: SigningKey
    operator_key: SigningKey

    def record(
        self, style: StyleView, style_id: str, rng: random.Random, *, test: bool = False,
        remake: int = 0,
    ) -> tuple[BallotRecordView, BallotRecordPayload]:
        """A random ballot of ``style``: 0..k choices per contest, a fresh ID."""
        ballot_id = BallotId.generate(rng.randbytes)
        contests = []
        for contest in style.contests:
            count = rng.randint(0, min(contest.vote_for, len(contest.options)))
            picked = set(rng.sample(contest.options, count))
            # Printed in ballot order, as a kiosk prints them.
            chosen = tuple(option for option in contest.options if option in picked)
            contests.append(ContestView(contest.title, contest.vote_for, chosen))
        view = BallotRecordView(
            style.election_name, style.jurisdiction, style.date, style.style_label,
            style.language, tuple(contests), ballot_id, test, remake, style.strings,
        )
        key = self.remake_key if remake else self.device_key
        payload = make_ballot_record(key, self.election_id, style_id, ballot_id, test=test,
                                     remake=remake)
        return view, payload

    def receipt(
        self, rng: random.Random, status: ReceiptStatus, *, test: bool = False,
        strings: PaperStrings = ENGLISH,
    ) -> ReceiptView:
        promise = InclusionPromise.issue(self.operator_key, self.election_id,
                                        rng.randrange(1, 10**6), rng.randbytes(32))
        payload: ReceiptPayload = make_receipt(self.device_key, self.election_id,
                                               rng.randbytes(32), status, promise, test=test)
        return ReceiptView(
            election_name=Label("General Election", None) if strings is ENGLISH
            else Label("Elección General", "General Election"),
            jurisdiction=Label("Springfield County"),
            date=Label("November 3, 2026") if strings is ENGLISH
            else Label("3 de noviembre de 2026", "November 3, 2026"),
            language="en" if strings is ENGLISH else "es",
            payload=payload,
            check_url="https://verify.springfield.example/2026-11-03",
            complaint_contact=Label("Springfield County Elections, (555) 010-4477"),
            complaint_deadline=Label("by November 17, 2026") if strings is ENGLISH
            else Label("antes del 17 de noviembre de 2026", "by November 17, 2026"),
            strings=strings,
        )


def sample_election(seed: int = 1) -> SampleElection:
    """Deterministic keys for the sample election (seeded: not for real use)."""
    rng = random.Random(seed)  # noqa: S311 (reproducible samples)
    return SampleElection(
        SAMPLE_ELECTION_ID,
        SigningKey(rng.randbytes(32)),
        SigningKey(rng.randbytes(32)),
        SigningKey(rng.randbytes(32)),
    )


def _names(rng: random.Random, count: int) -> tuple[Label, ...]:
    names = {f"{rng.choice(_FIRST)} {rng.choice(_LAST)}" for _ in range(4 * count)}
    return tuple(Label(n) for n in sorted(names)[:count])


def small_style(*, spanish: bool = False) -> StyleView:
    """Five contests, the kind most voters see; optionally Spanish with English."""
    rng = random.Random(7)  # noqa: S311 (reproducible samples)
    measure = ContestOptionsView(
        Label("Medida A: Bonos para escuelas", "Measure A: School bonds") if spanish
        else Label("Measure A: School bonds"),
        1,
        (Label("Sí", "Yes"), Label("No", "No")) if spanish else (Label("Yes"), Label("No")),
    )
    contests = [
        ContestOptionsView(Label("Gobernador", "Governor") if spanish else Label("Governor"),
                           1, _names(rng, 4)),
        ContestOptionsView(
            Label("Secretario de Estado", "Secretary of State") if spanish
            else Label("Secretary of State"), 1, _names(rng, 3)),
        ContestOptionsView(
            Label("Junta Escolar", "School Board") if spanish else Label("School Board"),
            3, _names(rng, 6)),
        ContestOptionsView(Label("Sheriff"), 1, _names(rng, 2)),
        measure,
    ]
    return StyleView(
        election_name=Label("Elección General", "General Election") if spanish
        else Label("General Election"),
        jurisdiction=Label("Condado de Springfield", "Springfield County") if spanish
        else Label("Springfield County"),
        date=Label("3 de noviembre de 2026", "November 3, 2026") if spanish
        else Label("November 3, 2026"),
        style_label=Label("Precinto 12-B", "Precinct 12-B") if spanish else Label("Precinct 12-B"),
        language="es" if spanish else "en",
        contests=tuple(contests),
        strings=SPANISH_WITH_ENGLISH if spanish else ENGLISH,
    )


def large_style() -> StyleView:
    """A long ballot: 18 offices with vote-for-3 and vote-for-5 contests, 2 measures.

    About the most a US Letter card holds at the minimum type sizes (``check_style_fits``
    refuses four more contests).
    """
    rng = random.Random(11)  # noqa: S311 (reproducible samples)
    contests = []
    for i, office in enumerate(_OFFICES[:18]):
        vote_for = 3 if i == 10 else 5 if i == 13 else 1
        contests.append(ContestOptionsView(Label(office), vote_for,
                                           _names(rng, max(3, vote_for + 2))))
    for letter in "BC":
        contests.append(ContestOptionsView(
            Label(f"Measure {letter}: Shall the county renew the {letter.lower()}-tax for "
                  "roads, parks and libraries for ten years?"),
            1, (Label("Yes"), Label("No"))))
    return StyleView(
        election_name=Label("General Election"),
        jurisdiction=Label("Springfield County"),
        date=Label("November 3, 2026"),
        style_label=Label("Precinct 3-A (long ballot)"),
        language="en",
        contests=tuple(contests),
    )
