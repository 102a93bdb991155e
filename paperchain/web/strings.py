"""The kiosk's and the public pages' fixed words, in plain language, per language.

The manifest gives every contest and choice in every language of the election; these
are the words around them. A language without its own falls back to English.
``{n}``, ``{k}``, ``{code}`` and the like are filled in by the page.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["kiosk_strings"]

_ENGLISH: Mapping[str, str] = {
    "language": "Language",
    "choose_language": "Choose your language",
    "text_size": "Text size",
    "smaller": "Smaller text",
    "larger": "Larger text",
    "contrast": "High contrast",
    "audio": "Read aloud",
    "audio_on": "Reading aloud is on.",
    "audio_off": "Reading aloud is off.",
    "audio_unavailable": "This kiosk's browser cannot read aloud.",
    "read_page": "Read this page aloud",
    "welcome_title": "Welcome. You can vote here.",
    "welcome_steps": "How it works: 1. Type the code a poll worker gave you. "
                     "2. Make your choices, one contest at a time. 3. Check them. "
                     "4. The kiosk prints your ballot on paper. Read it. "
                     "5. If the paper is right, cast it. If it is wrong, or you want to test "
                     "the kiosk, challenge it and vote again.",
    "switch_help": "Keyboard or two switches: Tab (or the first switch) moves to the next "
                   "button, Enter or Space (or the second switch) presses it.",
    "code_label": "Activation code from the poll worker",
    "code_hint": "Ten letters and numbers, for example 7ZQ4M-0XT8K.",
    "start": "Start voting",
    "contest_of": "Contest {n} of {total}",
    "vote_for": "Vote for up to {k}.",
    "vote_for_one": "Vote for 1.",
    "chosen_count": "You have chosen {n} of {k}.",
    "selected": "Selected",
    "not_selected": "Not selected",
    "limit_reached": "You have already chosen {k}. To choose another, first remove one of "
                     "your choices.",
    "undervote_title": "You chose fewer than you may",
    "undervote_text": "In {contest} you chose {n} of up to {k}. You may leave it like this, "
                      "or go back and choose more.",
    "keep_it": "Yes, continue",
    "go_back_choose": "Go back and choose",
    "next": "Next",
    "back": "Back",
    "review_title": "Check your choices",
    "review_help": "This is what the kiosk will print. To change a contest, press Change.",
    "no_selection": "No selection",
    "change": "Change",
    "print": "Print my ballot",
    "printing": "Printing your ballot… please wait.",
    "printed_title": "Read your printed ballot",
    "printed_help": "Take the paper from the printer and read it. The printed text is your "
                    "vote. Then choose:",
    "cast_help": "Cast: the paper is right. Put it in the ballot box. You get a receipt "
                 "to check later that your ballot was recorded.",
    "challenge_help": "Challenge: the paper is wrong, or you want to test the kiosk. The "
                      "kiosk shows how it encrypted this ballot so you can check it on your "
                      "own phone or computer. This ballot will not count. Give the paper to a "
                      "poll worker, who marks it SPOILED. Then you vote again.",
    "tracking_code": "Tracking code",
    "tracking_help": "This code identifies your encrypted ballot. It does not show your "
                     "choices.",
    "cast": "Cast my ballot",
    "challenge": "Challenge this ballot",
    "read_paper": "Read my paper aloud (from the scanner)",
    "readback_intro": "This is what the scanner read from your printed paper. It reads the "
                      "paper itself, not the kiosk's memory.",
    "readback_not_found": "The scanner could not read {contest}.",
    "readback_problem": "The scanner reports: {problem}",
    "readback_place": "Place your paper face up on the scanner, then press the button.",
    "cast_done_title": "Your ballot is cast",
    "cast_done_text": "Put your paper ballot in the ballot box. Take your receipt: with its "
                      "tracking code you can check on any phone or computer that your "
                      "ballot is recorded.",
    "challenge_done_title": "This ballot was challenged",
    "challenge_done_text": "This ballot will not be counted. Give the paper to a poll worker "
                           "to mark SPOILED. Take the challenge receipt: scan it with your own "
                           "phone or computer to see the choices this ballot held. Now vote "
                           "again.",
    "vote_again": "Vote again",
    "finish": "Finish",
    "timeout_title": "Do you need more time?",
    "timeout_text": "The kiosk will stop in {s} seconds if nothing happens.",
    "more_time": "I need more time",
    "timeout_text_printed": "The kiosk will stop in {s} seconds if nothing happens. Your "
                            "printed ballot has not been cast: if the kiosk stops, it will "
                            "NOT be cast. It will be challenged, and the paper spoiled.",
    "timed_out": "The session ended because nothing happened for a while. Ask a poll "
                 "worker for help.",
    "timed_out_nothing_kept": "Nothing was printed and nothing you chose was kept. To vote, "
                              "ask a poll worker for a new code.",
    "timed_out_printed_title": "Time ran out: the printed ballot was NOT cast",
    "timed_out_printed_text": "Nothing happened for a while, so the kiosk challenged the "
                              "printed ballot instead of casting it. It will not be counted. "
                              "Give the paper and the challenge receipt to a poll worker, who "
                              "marks the paper SPOILED. To vote, ask a poll worker for a new "
                              "code.",
    "ok": "OK",
    "error": "Something went wrong: {reason}",
    "ended": "Thank you for voting.",
    "cancel": "Stop and leave",
}

_SPANISH: Mapping[str, str] = {
    "language": "Idioma",
    "choose_language": "Elija su idioma",
    "text_size": "Tamaño del texto",
    "smaller": "Texto más pequeño",
    "larger": "Texto más grande",
    "contrast": "Alto contraste",
    "audio": "Leer en voz alta",
    "audio_on": "La lectura en voz alta está activada.",
    "audio_off": "La lectura en voz alta está desactivada.",
    "audio_unavailable": "El navegador de este quiosco no puede leer en voz alta.",
    "read_page": "Leer esta página en voz alta",
    "welcome_title": "Bienvenido. Puede votar aquí.",
    "welcome_steps": "Cómo funciona: 1. Escriba el código que le dio un trabajador electoral. "
                     "2. Haga sus selecciones, una contienda a la vez. 3. Revíselas. "
                     "4. El quiosco imprime su boleta en papel. Léala. "
                     "5. Si el papel está bien, emítala. Si está mal, o quiere probar el "
                     "quiosco, impúgnela y vote de nuevo.",
    "switch_help": "Teclado o dos interruptores: Tab (o el primer interruptor) pasa al "
                   "siguiente botón; Enter o Espacio (o el segundo interruptor) lo pulsa.",
    "code_label": "Código de activación del trabajador electoral",
    "code_hint": "Diez letras y números, por ejemplo 7ZQ4M-0XT8K.",
    "start": "Empezar a votar",
    "contest_of": "Contienda {n} de {total}",
    "vote_for": "Vote por hasta {k}.",
    "vote_for_one": "Vote por 1.",
    "chosen_count": "Ha elegido {n} de {k}.",
    "selected": "Seleccionado",
    "not_selected": "No seleccionado",
    "limit_reached": "Ya eligió {k}. Para elegir otro, primero quite una de sus selecciones.",
    "undervote_title": "Eligió menos de lo permitido",
    "undervote_text": "En {contest} eligió {n} de hasta {k}. Puede dejarlo así o volver y "
                      "elegir más.",
    "keep_it": "Sí, continuar",
    "go_back_choose": "Volver y elegir",
    "next": "Siguiente",
    "back": "Atrás",
    "review_title": "Revise sus selecciones",
    "review_help": "Esto es lo que el quiosco imprimirá. Para cambiar una contienda, pulse "
                   "Cambiar.",
    "no_selection": "Ninguna selección",
    "change": "Cambiar",
    "print": "Imprimir mi boleta",
    "printing": "Imprimiendo su boleta… espere, por favor.",
    "printed_title": "Lea su boleta impresa",
    "printed_help": "Tome el papel de la impresora y léalo. El texto impreso es su voto. "
                    "Luego elija:",
    "cast_help": "Emitir: el papel está bien. Póngalo en la urna. Recibirá un recibo para "
                 "comprobar después que su boleta quedó registrada.",
    "challenge_help": "Impugnar: el papel está mal, o quiere probar el quiosco. El quiosco "
                      "muestra cómo cifró esta boleta para que la compruebe en su propio "
                      "teléfono o computadora. Esta boleta no contará. Entregue el papel a un "
                      "trabajador electoral, que lo marca ANULADO. Luego vote de nuevo.",
    "tracking_code": "Código de seguimiento",
    "tracking_help": "Este código identifica su boleta cifrada. No muestra sus selecciones.",
    "cast": "Emitir mi boleta",
    "challenge": "Impugnar esta boleta",
    "read_paper": "Leer mi papel en voz alta (desde el escáner)",
    "readback_intro": "Esto es lo que el escáner leyó de su papel impreso. Lee el papel "
                      "mismo, no la memoria del quiosco.",
    "readback_not_found": "El escáner no pudo leer {contest}.",
    "readback_problem": "El escáner informa: {problem}",
    "readback_place": "Coloque su papel boca arriba en el escáner y pulse el botón.",
    "cast_done_title": "Su boleta fue emitida",
    "cast_done_text": "Ponga su boleta de papel en la urna. Tome su recibo: con su código de "
                      "seguimiento puede comprobar en cualquier teléfono o computadora que su "
                      "boleta quedó registrada.",
    "challenge_done_title": "Esta boleta fue impugnada",
    "challenge_done_text": "Esta boleta no se contará. Entregue el papel a un trabajador "
                           "electoral para que lo marque ANULADO. Tome el recibo de "
                           "impugnación: escanéelo con su propio teléfono o computadora para "
                           "ver las selecciones que tenía esta boleta. Ahora vote de nuevo.",
    "vote_again": "Votar de nuevo",
    "finish": "Terminar",
    "timeout_title": "¿Necesita más tiempo?",
    "timeout_text": "El quiosco se detendrá en {s} segundos si no pasa nada.",
    "more_time": "Necesito más tiempo",
    "timeout_text_printed": "El quiosco se detendrá en {s} segundos si no pasa nada. Su "
                            "boleta impresa no ha sido emitida: si el quiosco se detiene, NO "
                            "se emitirá. Será impugnada y el papel anulado.",
    "timed_out": "La sesión terminó porque no pasó nada durante un rato. Pida ayuda a un "
                 "trabajador electoral.",
    "timed_out_nothing_kept": "No se imprimió nada y no se guardó nada de lo que eligió. Para "
                              "votar, pida un código nuevo a un trabajador electoral.",
    "timed_out_printed_title": "Se acabó el tiempo: la boleta impresa NO se emitió",
    "timed_out_printed_text": "No pasó nada durante un rato, así que el quiosco impugnó la "
                              "boleta impresa en lugar de emitirla. No se contará. Entregue el "
                              "papel y el recibo de impugnación a un trabajador electoral, que "
                              "marca el papel ANULADO. Para votar, pida un código nuevo a un "
                              "trabajador electoral.",
    "ok": "Aceptar",
    "error": "Algo salió mal: {reason}",
    "ended": "Gracias por votar.",
    "cancel": "Parar y salir",
}

_BY_LANGUAGE: Mapping[str, Mapping[str, str]] = {"en": _ENGLISH, "es": _SPANISH}


def kiosk_strings(language: str) -> dict[str, str]:
    """The kiosk's words in ``language`` (English where it has none of its own)."""
    own = _BY_LANGUAGE.get(language, {})
    return {key: own.get(key, text) for key, text in _ENGLISH.items()}
