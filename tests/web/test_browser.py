"""The voter's and the observer's pages in headless Chromium (Playwright).

The whole story: activate → mark → print → challenge → check the challenge in the
receipt checker → mark → print → cast → find the receipt (from its QR, as a photo);
then an overvote attempt by keyboard alone, a second cast on one activation, a forged
tracking code, a head without enough cosignatures, the time-out warning; axe-core on
every page, in every state shown, and at kiosk and phone widths and 200% zoom.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paper.ids import format_tracking_code, parse_tracking_code
from tests.web.browser_helpers import (
    KIOSK,
    PHONE,
    ZOOM_200,
    browser_context,
    check_axe,
    launch,
    new_page,
    no_csp_violations,
    shoot,
)
from tests.web.web_helpers import (
    POLL_SECRET,
    WebElection,
    serve_demo_election,
    start_web_election,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    with launch() as instance:
        yield instance


@pytest.fixture(scope="module")
def browser(playwright: Any) -> Iterator[Any]:
    with browser_context(playwright) as context:
        yield context


def open_kiosk(browser: Any, web: WebElection, viewport: dict[str, int] = KIOSK,
               scale: float = 1, wait: str = "#token") -> Any:
    page = new_page(browser, viewport, scale)
    page.goto(web.kiosk_url + "/")
    page.wait_for_selector(wait)
    return page


def activate(page: Any, web: WebElection) -> None:
    page.fill("#token", web.issue_token())
    page.press("#token", "Enter")
    page.wait_for_selector("#next")


def mark_first_choices(page: Any, *, audit: bool = False, name: str = "") -> None:
    """Choose each contest's first selection, confirm undervotes, stop at the review."""
    first = True
    while page.query_selector("#next"):
        page.click("ul.options li:first-child label")
        if audit and first:
            check_axe(page, "kiosk contest page")
            shoot(page, f"kiosk-contest{name}")
            first = False
        page.click("#next")
        if page.query_selector("#undervote-ok"):
            if audit and name == "":
                check_axe(page, "kiosk undervote question")
                name = "-seen"
            page.click("#undervote-ok")
    page.wait_for_selector("#print")
    if audit:  # the ballot has a vote-for-more contest: its undervote was confirmed
        assert name.endswith("-seen")


def open_checker(browser: Any, web: WebElection, viewport: dict[str, int] = PHONE,
                 scale: float = 1) -> Any:
    page = new_page(browser, viewport, scale)
    page.goto(f"{web.public_url}/elections/{web.election_id}/check")
    page.wait_for_selector("#code")
    return page


def check_code(page: Any, code: str) -> str:
    page.fill("#code", code)
    page.click("#code-form button[type=submit]")
    page.wait_for_selector("#verdict", timeout=120_000)
    return str(page.get_attribute("#verdict", "data-status"))


def test_voter_story_challenge_then_cast_and_find_the_receipt(browser: Any, tmp_path: Path
                                                             ) -> None:
    web = start_web_election(tmp_path)
    try:
        # The poll worker issues a one-time code on the kiosk's poll-worker page.
        worker = new_page(browser, KIOSK)
        worker.goto(web.kiosk_url + "/pollworker")
        check_axe(worker, "poll worker page")
        worker.fill("#secret", POLL_SECRET.decode())
        worker.select_option("#style", web.kiosk.manifest.ballot_styles[0].id)
        worker.click("#activate button[type=submit]")
        worker.wait_for_selector("#result .token")
        token = worker.inner_text("#result .token")
        check_axe(worker, "poll worker page with a code")
        shoot(worker, "kiosk-pollworker")
        worker.close()
        page = open_kiosk(browser, web)
        check_axe(page, "kiosk welcome")
        shoot(page, "kiosk-welcome")
        page.fill("#token", token.lower().replace("-", " "))  # typed as a voter may
        page.press("#token", "Enter")
        page.wait_for_selector("#next")
        mark_first_choices(page, audit=True)
        check_axe(page, "kiosk review")
        shoot(page, "kiosk-review")
        page.click("#print")
        page.wait_for_selector("#cast")
        printed_code = page.inner_text("#tracking-code")
        check_axe(page, "kiosk printed ballot")
        shoot(page, "kiosk-printed")
        # The audio read-back: the paper goes under the scanner.
        shutil.copy(web.spooled("ballot-record")[-1], web.scanner / "scan.pdf")
        page.click("#read-paper")
        page.wait_for_selector("#readback li")
        heard = page.inner_text("#readback")
        assert "scanner read from your printed paper" in heard
        assert web.kiosk.manifest.contests[0].selections[0].label.english in heard
        page.click("#challenge")
        page.wait_for_selector("#vote-again")
        assert page.inner_text("#tracking-code") == printed_code
        check_axe(page, "kiosk challenge done")
        web.sync()

        checker = open_checker(browser, web)
        check_axe(checker, "receipt checker (empty)")
        assert check_code(checker, printed_code) == "challenged"
        shown = checker.inner_text("#choices")
        for _, contest in web.kiosk.manifest.contests_of_style(
                web.kiosk.manifest.ballot_styles[0].id):
            assert contest.title.english in shown
            assert contest.selections[0].label.english in shown
        assert checker.get_attribute("#progress", "value") == checker.get_attribute(
            "#progress", "max")
        check_axe(checker, "receipt checker (challenged)")
        shoot(checker, "checker-challenged-phone")
        no_csp_violations(checker)

        page.click("#vote-again")
        page.wait_for_selector("#next")
        mark_first_choices(page)
        page.click("#print")
        page.wait_for_selector("#cast")
        cast_code = page.inner_text("#tracking-code")
        assert cast_code != printed_code
        page.click("#cast")
        page.wait_for_selector("#finish")
        assert page.inner_text("#tracking-code") == cast_code
        page.go_back()  # no way back to the printed ballot's decision
        page.wait_for_timeout(500)
        assert page.query_selector("#finish") is not None
        assert page.query_selector("#cast") is None
        check_axe(page, "kiosk cast done")
        shoot(page, "kiosk-cast")
        again = page.evaluate("""async (path) => {
            const r = await fetch(path, {method: 'POST', credentials: 'same-origin',
                headers: {'Content-Type': 'application/json'}, body: '{"version": 1}'});
            return r.status; }""", f"/v1/elections/{web.election_id}/ballot/cast")
        assert again == 409  # one cast per activation
        no_csp_violations(page)
        page.click("#finish")
        page.wait_for_selector("h1")
        web.sync()

        photo = web.receipt_png(web.spooled("receipt")[-1], tmp_path / "receipt.png")
        checker.reload()
        checker.wait_for_selector("#qr-file")
        checker.set_input_files("#qr-file", str(photo))
        checker.wait_for_selector("#verdict", timeout=120_000)
        assert checker.get_attribute("#verdict", "data-status") == "cast"
        assert format_tracking_code(parse_tracking_code(cast_code)) in checker.inner_text(
            "#result")
        check_axe(checker, "receipt checker (cast)")

        wide = open_checker(browser, web, KIOSK)
        assert check_code(wide, cast_code) == "cast"
        shoot(wide, "checker-cast-wide")
        zoomed = open_checker(browser, web, ZOOM_200, scale=2)
        assert check_code(zoomed, printed_code) == "challenged"
        check_axe(zoomed, "receipt checker at 200% zoom")
        shoot(zoomed, "checker-challenged-zoom200")

        for path, name in (("", "index"), (f"/elections/{web.election_id}/board", "board"),
                           (f"/elections/{web.election_id}/board/entries", "entries"),
                           (f"/elections/{web.election_id}/board/entries/0", "entry"),
                           (f"/elections/{web.election_id}/board/heads", "heads"),
                           (f"/elections/{web.election_id}/board/audit", "audit")):
            board = new_page(browser, KIOSK)
            board.goto(web.public_url + (path or "/"))
            check_axe(board, f"public {name}")
            if name in ("board", "entries"):
                shoot(board, f"board-{name}")
            no_csp_violations(board)
            board.close()
        for viewport, scale, label in ((PHONE, 1, "phone"), (ZOOM_200, 2, "zoom200")):
            board = new_page(browser, viewport, scale)
            board.goto(f"{web.public_url}/elections/{web.election_id}/board")
            check_axe(board, f"bulletin board ({label})")
            shoot(board, f"board-board-{label}")
            board.close()
        for view in (page, checker, wide, zoomed):
            view.close()
    finally:
        web.close()


SPEECH_PROBE = """window.__spoken = [];
if (window.speechSynthesis) {
  window.speechSynthesis.speak = (utterance) => window.__spoken.push(utterance.text);
}"""


def test_overvote_cannot_be_entered_by_keyboard(browser: Any, web: WebElection) -> None:
    page = new_page(browser, KIOSK)
    page.add_init_script(SPEECH_PROBE)
    page.goto(web.kiosk_url + "/")
    page.wait_for_selector("#token")
    page.click("#audio")
    assert page.get_attribute("#audio", "aria-pressed") == "true"
    page.click("#language-es")
    page.wait_for_selector("text=Bienvenido")
    page.focus("#token")
    page.keyboard.type(web.issue_token())
    page.keyboard.press("Enter")
    page.wait_for_selector("#next")
    contest = web.kiosk.manifest.contests_of_style(web.kiosk.manifest.ballot_styles[0].id)[0][1]
    assert contest.vote_for == 1
    first, second = (f"#option-{s.id}" for s in contest.selections[:2])
    page.focus(first)
    page.keyboard.press("Space")
    page.wait_for_selector(f"{first}:checked")
    page.focus(first)
    page.keyboard.press("ArrowDown")  # a switch's "next"
    page.keyboard.press("Space")  # a switch's "select"
    page.wait_for_selector("#limit:not(:empty)")
    assert not page.is_checked(second)
    assert page.is_checked(first)
    assert "1 de 1" in page.inner_text("#count")
    assert "Ya eligió 1" in page.inner_text("#limit")
    spoken = " ".join(page.evaluate("() => window.__spoken"))
    assert contest.title["es"] in spoken  # the page is read aloud in the voter's language
    assert contest.selections[0].label["es"] in spoken
    assert "Ya eligió 1" in spoken  # and so is the refusal
    small = page.evaluate("""() => Array.from(document.querySelectorAll(
        'button, input, select, label.option')).filter((n) => n.offsetParent !== null)
        .map((n) => [n.id || n.textContent.trim(), n.getBoundingClientRect().height])
        .filter(([, h]) => h < 48)""")
    assert small == [], small  # targets at least 48 px high
    choice_heights = page.evaluate("""() => Array.from(document.querySelectorAll(
        'label.option')).map((n) => n.getBoundingClientRect().height)""")
    assert min(choice_heights) >= 64
    page.click("#larger")
    page.click("#larger")
    page.click("#larger")
    page.click("#contrast")
    assert page.get_attribute("#contrast", "aria-pressed") == "true"
    check_axe(page, "kiosk contest, high contrast, 200% text, Spanish")
    shoot(page, "kiosk-contest-contrast-large-es")
    # The same session seen at phone width and at 200% zoom (the cookie carries it).
    phone = open_kiosk(browser, web, PHONE, wait="#next")
    check_axe(phone, "kiosk contest at phone width")
    shoot(phone, "kiosk-contest-phone")
    zoomed = open_kiosk(browser, web, ZOOM_200, scale=2, wait="#next")
    check_axe(zoomed, "kiosk contest at 200% zoom")
    shoot(zoomed, "kiosk-contest-zoom200")
    for view in (page, phone, zoomed):
        view.close()


def switch_press(page: Any, selector: str) -> None:
    """A two-switch user: "next" (ArrowDown) until ``selector`` has focus, then "select"
    (Enter). Fails if the control cannot be reached that way."""
    for _ in range(40):
        if page.evaluate("(s) => !!document.activeElement && document.activeElement.matches(s)",
                         selector):
            page.keyboard.press("Enter")
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"{selector} cannot be reached with the 'next' switch")


def test_two_switches_alone_take_a_voter_from_code_to_cast(browser: Any, web: WebElection
                                                           ) -> None:
    """Every step by "next" and "select" only (typing the code aside): mark, confirm an
    undervote, print, challenge, vote again, cast. The language never changes on the way;
    read aloud, the printed screen speaks the tracking code."""
    page = new_page(browser, KIOSK)
    page.add_init_script(SPEECH_PROBE)
    page.goto(web.kiosk_url + "/")
    page.wait_for_selector("#token")
    switch_press(page, "#audio")
    page.wait_for_selector("#audio[aria-pressed=true]")
    switch_press(page, "#token")
    page.keyboard.type(web.issue_token())
    switch_press(page, "#start")
    page.wait_for_selector("#next")
    for round_ in range(2):
        while page.query_selector("#next"):
            if not page.is_checked("ul.options li:first-child input"):  # kept after a challenge
                switch_press(page, "ul.options li:first-child input")
                page.wait_for_selector("ul.options li:first-child input:checked")
            switch_press(page, "#next")
            if page.query_selector("#undervote-ok"):
                switch_press(page, "#undervote-ok")
        page.wait_for_selector("#print")
        switch_press(page, "#print")
        page.wait_for_selector("#cast")
        spoken = " ".join(page.evaluate("() => window.__spoken"))
        assert page.inner_text("#tracking-code") in spoken
        if round_ == 0:
            switch_press(page, "#challenge")
            page.wait_for_selector("#vote-again")
            switch_press(page, "#vote-again")
            page.wait_for_selector("#next")
    switch_press(page, "#cast")
    page.wait_for_selector("#finish")
    assert page.evaluate("() => document.documentElement.lang") == "en"
    assert [p.name.split("-")[0] for p in web.spooled("receipt")] == ["receipt", "receipt"]
    switch_press(page, "#finish")
    page.close()


def test_checker_refuses_forged_codes_and_thinly_cosigned_heads(browser: Any, web: WebElection
                                                                ) -> None:
    import httpx

    client = httpx.Client()
    session = client.post(web.api("/session"), json={"version": 1, "token": web.issue_token(),
                                                     "language": "en"}).json()
    choices = {c["id"]: [] for c in session["ballot"]["contests"]}
    code = client.post(web.api("/ballot/print"),
                       json={"version": 1, "choices": choices}).json()["tracking_code"]
    client.post(web.api("/ballot/cast"), json={"version": 1})
    web.sync("w1")  # only one of the two witnesses the setup requires has seen the ballot
    checker = open_checker(browser, web, KIOSK)
    assert check_code(checker, code) == "pending"
    assert "cosigned by w1, w2" in checker.inner_text("#steps")
    check_axe(checker, "receipt checker (pending)")
    raw = parse_tracking_code(code)
    forged = format_tracking_code(bytes([raw[0] ^ 1]) + raw[1:])
    assert check_code(checker, forged) == "missing"
    assert "NOT on the ledger" in checker.inner_text("#verdict")
    typo = code[0] + ("A" if code[1] != "A" else "B") + code[2:]  # one symbol misread
    assert check_code(checker, typo) == "failed"  # the check symbol catches every such typo
    check_axe(checker, "receipt checker (refused)")
    shoot(checker, "checker-refused")
    checker.close()


def test_time_out_warns_then_ends_the_session(browser: Any, tmp_path: Path) -> None:
    web = start_web_election(tmp_path, idle_timeout=6.0, warning=4.0)
    try:
        page = open_kiosk(browser, web)
        activate(page, web)
        page.wait_for_selector("#timeout:not([hidden])", timeout=10_000)
        assert "seconds" in page.inner_text("#timeout-text")
        check_axe(page, "kiosk time-out warning")
        page.click("#more-time")
        assert page.is_hidden("#timeout")
        page.wait_for_selector("text=The session ended", timeout=20_000)
        assert "nothing you chose was kept" in page.inner_text("main")
        assert web.spooled("ballot-record") == []
        # After a cast nothing is left to decide: no warning, the time-out says goodbye
        # (and takes the tracking code off the screen).
        page.wait_for_selector("#token", timeout=30_000)
        activate(page, web)
        mark_first_choices(page)
        page.click("#print")
        page.click("#cast")
        page.wait_for_selector("#finish")
        page.wait_for_selector("text=Thank you for voting", timeout=20_000)
        assert page.is_hidden("#timeout")
        assert page.query_selector("#tracking-code") is None
        page.close()
    finally:
        web.close()


def test_time_out_of_a_printed_ballot_challenges_it_and_tells_the_poll_worker(
        browser: Any, tmp_path: Path) -> None:
    """Printed, then nobody decides: the warning says the ballot will NOT be cast; at the
    time-out the kiosk challenges it, the page says so until OK is pressed, and the poll
    worker's next code comes with the reminder to spoil the paper."""
    from e2e.ledger.http_client import HttpLedger

    web = start_web_election(tmp_path, idle_timeout=20.0, warning=8.0)
    try:
        page = open_kiosk(browser, web)
        activate(page, web)
        mark_first_choices(page)
        page.click("#print")
        page.wait_for_selector("#cast")
        with HttpLedger(web.network.url) as ledger:
            before = ledger.size()
        page.wait_for_selector("#timeout:not([hidden])", timeout=30_000)
        assert "NOT be cast" in page.inner_text("#timeout-text")
        check_axe(page, "kiosk time-out warning on a printed ballot")
        page.wait_for_selector("#not-cast", timeout=30_000)
        assert "NOT cast" in page.inner_text("h1")
        assert "SPOILED" in page.inner_text("#not-cast")
        check_axe(page, "kiosk: a printed ballot timed out")
        shoot(page, "kiosk-timed-out-printed")
        with HttpLedger(web.network.url) as ledger:
            entries = list(ledger.entries(before))
        assert [e.entry_type for _, e in entries] == ["challenge"]
        assert len(web.spooled("receipt")) == 1  # the CHALLENGED receipt
        page.wait_for_timeout(16_000)  # unlike other endings, the notice stays
        assert page.query_selector("#not-cast") is not None
        page.click("#timeout-ok")
        page.wait_for_selector("#token")

        worker = new_page(browser, KIOSK)
        worker.goto(web.kiosk_url + "/pollworker")
        worker.fill("#secret", POLL_SECRET.decode())
        worker.click("#activate button[type=submit]")
        worker.wait_for_selector("#result .token")
        assert "mark it SPOILED" in worker.inner_text("#spoil-notice")
        check_axe(worker, "poll worker page with a spoil reminder")
        shoot(worker, "kiosk-pollworker-spoil")
        for view in (page, worker):
            view.close()
    finally:
        web.close()


def test_board_of_a_tallied_and_audited_election(browser: Any, tmp_path: Path) -> None:
    """The demo's election, counted and audited: results with their verification status,
    the reconciliation and the audit's entries with the risk per assertion."""
    served = serve_demo_election(tmp_path / "demo", seed=6)  # seed 6: an audit round
    try:
        base = f"{served.public_url}/elections/{served.site.election_id}"
        page = new_page(browser, KIOSK)
        deadline = 180_000
        page.goto(f"{base}/board")
        for _ in range(deadline // 500):
            text = page.inner_text("main")
            if "PASSED" in text or "FAILED" in text or "could not run" in text:
                break
            page.wait_for_timeout(500)
            page.reload()
        text = page.inner_text("main")
        assert "PASSED" in text, text
        assert "Published at ledger index" in text
        check_axe(page, "board of an audited election")
        shoot(page, "board-results")
        page.goto(f"{base}/board/audit")
        audit = page.inner_text("main")
        for kind in ("paper-manifest", "reconciliation", "audit-parameters", "audit-seed",
                     "audit-round", "audit-reading", "audit-cvrs", "audit-risk", "audit-end"):
            assert kind in audit, kind
        # The page's content is checked against the record in test_board_audit.py; here:
        # the replay is shown (the site verified the record before PASSED above) and the
        # risk per assertion is drawn, both the published entry's and the replay's.
        assert "replayed it" in audit
        assert "Sampled comparisons" in audit
        assert len(page.query_selector_all("figure svg[role=img]")) >= 2
        bars = page.query_selector_all("figure svg[role=img] rect.bar")
        assert bars
        assert all(b.bounding_box()["width"] > 0 for b in bars)
        check_axe(page, "audit page of an audited election")
        shoot(page, "board-audit")
        page.close()
    finally:
        served.close()


def test_checker_reads_the_receipt_through_the_camera(playwright: Any, tmp_path: Path,
                                                      web: WebElection) -> None:
    """The camera path: Chromium's fake camera shows the printed receipt; the page finds
    and decodes its QR in the video frames, and checks the ballot."""
    import httpx
    from PIL import Image

    client = httpx.Client()
    session = client.post(web.api("/session"), json={"version": 1, "token": web.issue_token(),
                                                     "language": "en"}).json()
    choices = {c["id"]: [] for c in session["ballot"]["contests"]}
    client.post(web.api("/ballot/print"), json={"version": 1, "choices": choices})
    client.post(web.api("/ballot/cast"), json={"version": 1})
    web.sync()
    photo = Image.open(web.receipt_png(web.spooled("receipt")[-1], tmp_path / "r.png"))
    frame = photo.convert("RGB")
    frame = frame.crop((0, 0, frame.width, min(frame.height, frame.width * 2)))
    video = tmp_path / "camera.mjpeg"
    with open(video, "wb") as out:
        for _ in range(3):
            frame.save(out, format="JPEG", quality=92)
    camera = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              f"--use-file-for-fake-video-capture={video}")
    with browser_context(playwright, camera, permissions=("camera",)) as context:
        page = new_page(context, PHONE)
        page.goto(f"{web.public_url}/elections/{web.election_id}/check")
        page.click("#camera")
        page.wait_for_selector("#verdict", timeout=60_000)
        assert page.get_attribute("#verdict", "data-status") == "cast"
        assert page.is_hidden("#video")  # the camera stops once the code is read
        page.close()
