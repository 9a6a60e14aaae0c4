"""The built-in code of conduct (version 1 of every course), in English and Italian.

Written for Bottega. Kept as Markdown here rather than in the message catalogue: it is one
long text that staff replace as a whole, not a set of interface strings.
"""

from __future__ import annotations

DEFAULT_VERSION = 1

ENGLISH = """\
This space belongs to everyone in the course. By taking part you agree to these rules.

1. **Be respectful.** Criticise ideas, never people. No insults, harassment, discrimination
   or threats, in public posts or anywhere else in the course.
2. **Stay on topic.** Post about the course and learning together. No advertising, spam or
   chain messages.
3. **Protect other people's privacy.** Do not share anyone else's personal data: names,
   contact details, photos, grades or private messages, without their consent.
4. **Keep your work honest.** Ask for help and explain how to get there, but do not post
   solutions to graded work, and do not pass off others' work as your own.
5. **Help the community.** If a post breaks these rules, flag it instead of replying to it.
   The course staff read every flag.

Moderators may hide posts that break these rules and may send you a warning. Repeated or
serious breaches are reported to the course staff.
"""

ITALIAN = """\
Questo spazio è di tutte le persone del corso. Partecipando, accetti queste regole.

1. **Sii rispettoso.** Critica le idee, mai le persone. Niente insulti, molestie,
   discriminazioni o minacce, nei post pubblici come in qualsiasi altra parte del corso.
2. **Resta in tema.** Scrivi del corso e dell'imparare insieme. Niente pubblicità, spam o
   catene di messaggi.
3. **Proteggi la privacy degli altri.** Non condividere dati personali di altre persone
   (nomi, recapiti, foto, voti o messaggi privati) senza il loro consenso.
4. **Lavora onestamente.** Chiedi aiuto e spiega come arrivare alla soluzione, ma non
   pubblicare le soluzioni delle prove valutate e non spacciare per tuo il lavoro di altri.
5. **Aiuta la comunità.** Se un post viola queste regole, segnalalo invece di rispondere.
   Lo staff del corso legge ogni segnalazione.

I moderatori possono nascondere i post che violano queste regole e inviarti un avviso. Le
violazioni gravi o ripetute vengono riferite allo staff del corso.
"""


def default_text(locale: str | None) -> str:
    """The built-in code in the member's language (English unless Italian)."""
    return ITALIAN if (locale or "").lower().startswith("it") else ENGLISH
