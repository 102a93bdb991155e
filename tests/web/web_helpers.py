"""An election with its kiosk and public site served on 127.0.0.1, for the web tests.

``start_web_election`` builds a test-group election (``tests.ledger.service_helpers``:
operator and two witnesses over HTTP, threshold 2), opens the polls, and serves the
kiosk (kiosk-1, printing to a spool directory that stands for the printer, reading
scans from a scanner directory) and the public site. Every server picks a free port.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pypdfium2
import uvicorn

from e2e.cvr import CvrStore
from e2e.errors import StateError
from e2e.ledger.http_client import HttpLedger
from e2e.ledger.service import RunningServer, bind_socket, url_of
from e2e.voting import VotingDevice
from paper.kiosk import Kiosk, KioskSettings
from paper.printing import SpoolPrinter
from paperchain.web.kiosk_app import create_kiosk_app, directory_scanner
from paperchain.web.public_app import PublicSite, create_public_app, open_public_site
from tests.ledger.service_helpers import Election, Network, make_election

POLL_SECRET = b"poll-worker-secret-for-tests"


def serve_app(app: object) -> RunningServer:
    """Serve an ASGI app in a daemon thread (lifespan on, no access log)."""
    sock = bind_socket()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        with contextlib.suppress(OSError):
            sock.close()
        raise StateError("a web app did not start")
    return RunningServer(server, thread, url_of(sock))


@dataclass
class WebElection:
    directory: Path
    election: Election
    network: Network
    kiosk: Kiosk
    kiosk_dir: Path
    spool: Path
    scanner: Path
    kiosk_server: RunningServer
    site: PublicSite
    public_server: RunningServer
    extra: list[RunningServer] = field(default_factory=list)

    @property
    def kiosk_url(self) -> str:
        return self.kiosk_server.url

    @property
    def public_url(self) -> str:
        return self.public_server.url

    @property
    def election_id(self) -> str:
        return self.election.election_id

    def api(self, path: str) -> str:
        return f"{self.kiosk_url}/v1/elections/{self.election_id}{path}"

    def issue_token(self, style_id: str | None = None) -> str:
        style = style_id or self.kiosk.manifest.ballot_styles[0].id
        response = httpx.post(self.api("/activations"), json={"version": 1, "style_id": style},
                              headers={"Authorization": "Bearer " + POLL_SECRET.decode()})
        response.raise_for_status()
        return str(response.json()["token"])

    def sync(self, *names: str) -> None:
        self.network.sync(*names)

    def spooled(self, kind: str) -> list[Path]:
        return sorted(self.spool.glob(f"{kind}-*.pdf"), key=lambda p: p.stat().st_mtime)

    def receipt_png(self, pdf: Path, out: Path) -> Path:
        """The printed receipt as a photo would show it (rendered at 200 dpi)."""
        document = pypdfium2.PdfDocument(pdf.read_bytes())
        try:
            document[0].render(scale=200 / 72).to_pil().save(out)
        finally:
            document.close()
        return out

    def close(self) -> None:
        for server in [self.kiosk_server, self.public_server, *self.extra]:
            server.stop()
        self.network.close()


def start_web_election(directory: Path, *, idle_timeout: float = 600.0,
                       warning: float = 60.0, verify: bool = False,
                       cvrs: bool = True) -> WebElection:
    """``cvrs=False``: the kiosk's device runs without CVRs (``kiosk serve --no-cvrs``)."""
    election = make_election(directory)
    network = Network.start(election)
    network.write_setup_and_ceremony()
    network.open_voting()
    network.sync()
    context = election.context()
    kiosk_dir = directory / "kiosk"
    spool = directory / "printer"
    scanner = directory / "scanner"
    for path in (kiosk_dir, spool, scanner):
        path.mkdir()
    device = VotingDevice(context, HttpLedger(network.url), election.device_key, "kiosk-1", "s1",
                          CvrStore(kiosk_dir / "cvrs.json", context.group) if cvrs else False)
    printer = SpoolPrinter(spool)
    public_placeholder = "http://127.0.0.1/check"
    settings = KioskSettings(check_url=public_placeholder,
                             complaint_contact="Springfield Elections, (555) 010-4477",
                             complaint_deadline="2026-11-17", test_mode=True,
                             idle_timeout=idle_timeout, warning=warning)
    kiosk = Kiosk(device, election.device_key, printer, printer, settings,
                  scanner=directory_scanner(scanner))
    kiosk_server = serve_app(create_kiosk_app(kiosk, poll_worker_secret=POLL_SECRET))
    witnesses = [network.witness_url(name) for name in network.witnesses]
    site = open_public_site(network.url, witnesses, allow_test_group=True, verify=verify)
    public_server = serve_app(create_public_app(site))
    return WebElection(directory, election, network, kiosk, kiosk_dir, spool, scanner,
                       kiosk_server, site, public_server)


@dataclass
class AuditedElection:
    """``paperchain demo``'s election (tallied and audited) served again: its operator,
    its two witnesses and the public site."""

    site: PublicSite
    servers: list[RunningServer]

    @property
    def public_url(self) -> str:
        return self.servers[-1].url

    def close(self) -> None:
        for server in self.servers:
            server.stop()


def serve_demo_election(out: Path, *, voters: int = 40, seed: int = 2026,
                        tamper: str | None = None) -> AuditedElection:
    """Run the demo (test group, 40 voters by default, with its audit) into ``out`` and
    serve it: the ledger, its witnesses and the public site (which verifies the record)."""
    from e2e.keystore import KdfLimits
    from e2e.ledger.service import create_app, serve_in_thread
    from e2e.ledger.witness import open_witness
    from paperchain.demo import DemoConfig, run_demo
    from paperchain.wiring import open_ledger_node

    run_demo(DemoConfig(out=out, voters=voters, seed=seed, test_group=True,
                        kdf_limits=KdfLimits(1, 8192), tamper=tamper))
    node, _ = open_ledger_node(out / "ledger")
    servers = [serve_in_thread(create_app(node))]
    for directory in sorted((out / "witnesses").iterdir()):
        servers.append(serve_in_thread(create_app(open_witness(directory).node())))
    site = open_public_site(servers[0].url, [s.url for s in servers[1:]],
                            allow_test_group=True, verify=True)
    servers.append(serve_app(create_public_app(site)))
    return AuditedElection(site, servers)
