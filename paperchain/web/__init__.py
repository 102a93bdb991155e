"""The web pages: the kiosk (``kiosk_app``) and the public site (``public_app``).

Thin ASGI apps (FastAPI) that parse requests and call the libraries: the kiosk's
logic is ``paper.kiosk``; the receipt checker verifies in the browser
(``static/verify.js``); the bulletin board reads the ledger (``board``). Every script
and style is served by the app itself. docs/spec.md §21 is the reference.
"""

__all__: list[str] = []
