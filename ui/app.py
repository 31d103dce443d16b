"""Layout and wiring of the chat window (gr.Blocks); the behaviour lives in ui/chat.py, the HTML in ui/render.py."""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from functools import partial
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry, no version check

import gradio as gr

from assistant import Settings, open_assistant
from assistant.errors import HandbookError
from assistant.feedback_log import QaLog

from . import api, chat, documents_tab, reader
from .render import toc_html
from .style import CSS
from .uploads import is_loopback

TITLE = "NYT SAMMEN BEDRE – spørg håndbogen"
HEADER = ('<header class="hb-header"><h1>NYT SAMMEN BEDRE</h1><p>Spørg håndbogen om innovative samarbejder i den '
          'offentlige sektor. Hvert svar er ordrette citater med kilde; klik på en kilde for at læse den i '
          'sammenhæng.</p></header>')
START = ("### Velkommen\nSkriv et spørgsmål, eller vælg et af eksemplerne. Svarene er citater fra håndbogen med "
         "kapitel, afsnit og side eller linje, så du selv kan tjekke dem.")
EXAMPLES = [
    "Hvor mange offentlige innovationer sker i samarbejde med andre?",
    "Hvilke typer samarbejdsparter beskriver håndbogen?",
    "Hvad handler casen om skoletoilettet i Vesthimmerland om?",
    "Hvilke barrierer er der for innovative samarbejder?",
]

# One listener for every "#hb:..." link in answers and the contents: copy links are handled here, the rest
# become a click event on the (invisible) bridge component carrying the link, which opens the reading pane.
LINKS_JS = """
window.__hbTrigger = trigger;
if (!window.__hbLinks) {
  window.__hbLinks = true;
  const fallback = (text) => {
    const ta = document.createElement('textarea');
    ta.value = text; ta.style.position = 'fixed'; ta.style.opacity = '0';
    document.body.appendChild(ta); ta.select();
    try { document.execCommand('copy'); } catch (e) {}
    ta.remove();
  };
  const copy = (a) => {
    const box = a.closest('.hb-answer');
    const src = box && box.querySelector('.hb-copytext');
    const text = src ? src.textContent : '';
    const label = a.dataset.label || (a.dataset.label = a.textContent);
    const done = () => { a.textContent = a.dataset.done || '✓'; setTimeout(() => { a.textContent = label; }, 2000); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => { fallback(text); done(); });
    } else { fallback(text); done(); }
  };
  document.addEventListener('click', (e) => {
    const a = e.target.closest && e.target.closest('a[href^="#hb:"]');
    if (!a) return;
    e.preventDefault();
    const link = a.getAttribute('href').slice(1);
    if (link.startsWith('hb:copy:')) { copy(a); return; }
    window.__hbTrigger('click', {link: link});
  });
}
"""
# After the reading pane changes, bring the highlighted quote (or the chosen section) into view.
SCROLL_JS = """
const show = () => {
  const box = element.querySelector('.hb-reader');
  if (!box) return;
  const hit = box.querySelector('mark.hb-hit');
  const ctx = box.querySelector('.hb-context');
  const head = box.querySelector('header');
  const sec = box.querySelector('.hb-target');
  let t = hit || sec;
  // show the section (or else the passage) from its start when the quote still fits, else centre the quote
  const fits = (el) => el && hit.offsetTop + hit.offsetHeight - el.offsetTop < box.clientHeight * 0.75;
  if (hit) t = fits(sec) ? sec : fits(ctx) ? ctx : hit;
  const off = t === hit ? box.clientHeight / 3 : 8;
  box.scrollTop = t ? Math.max(0, t.offsetTop - (head ? head.offsetHeight : 0) - off) : 0;
  const r = box.getBoundingClientRect();
  if (r.top < 0 || r.top > window.innerHeight * 0.6) box.scrollIntoView({block: 'start'});
};
watch('value', () => { show(); setTimeout(show, 150); });
"""


def browser_secret(settings: Settings) -> str:
    """A stable key for the conversation Gradio keeps in localStorage, so it also survives a server restart.

    Gradio hands this key to the page (it obfuscates, it does not protect), so ui/chat.py checks and escapes
    everything that comes back from the browser.
    """
    path = settings.home / "ui-secret"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return secrets.token_urlsafe(32)


def contents(settings: Settings, sources: list[str] | None = None) -> str:
    try:
        return toc_html(open_assistant(settings).chapters(), sources)
    except HandbookError:
        return reader.message_pane(chat.NO_INDEX)


def build_app(settings: Settings, qa_log: QaLog | None = None, *, uploads: bool | None = None) -> gr.Blocks:
    """The whole page: chat with sources on the left; reading pane, contents and documents on the right.

    `uploads` says whether the Dokumenter tab may add files (ui/cli.py: only on a loopback address or with a
    login); None decides from the settings' host alone.
    """
    respond = partial(chat.respond, settings=settings, qa_log=qa_log)
    allowed = is_loopback(settings.host) if uploads is None else uploads
    if allowed:
        documents_tab.keep_uploads_in_home(settings)

    def ask(message: str, shown: list, state: Any, scope: str, chosen: list[str]
            ) -> Iterator[tuple[str, list, dict]]:
        sources = documents_tab.current(settings, scope, chosen)
        for msgs, new in respond(message, shown, state, sources=sources):
            yield "", msgs, new

    def ask_example(shown: list, state: Any, scope: str, chosen: list[str], evt: gr.SelectData
                    ) -> Iterator[tuple[str, list, dict]]:
        value = evt.value if isinstance(evt.value, dict) else {"text": str(evt.value)}
        yield from ask(value.get("text") or "", shown, state, scope, chosen)

    def restore(state: Any) -> tuple[Any, ...]:
        state = chat.clean_state(state)
        table, choices, remove, _scope = documents_tab.refreshed(settings, None, None)
        return chat.messages(state), state, contents(settings), table, choices, remove

    def on_link(state: Any, evt: gr.EventData) -> tuple[Any, Any]:
        data = getattr(evt, "_data", None) or {}
        pane = chat.open_link(str(data.get("link", "")), state, settings=settings)
        return (gr.skip(), gr.skip()) if pane is None else (pane, gr.Tabs(selected="laes"))

    def on_like(state: Any, evt: gr.LikeData) -> tuple[Any, Any, Any, Any]:
        index = evt.index if isinstance(evt.index, int) else evt.index[0]
        log_id = chat.rate(state, index, evt.liked, qa_log)
        if log_id is None:
            return None, gr.Group(visible=False), gr.skip(), gr.skip()
        rating = chat.rating_of(evt.liked)
        note = {1: "Tak! Du gav svaret tommel op.", -1: "Tak! Du gav svaret tommel ned."}.get(
            rating, "Din vurdering er fjernet.")
        return log_id, gr.Group(visible=rating != 0), note + " Skriv gerne en kommentar (valgfri):", ""

    def on_comment(log_id: int | None, text: str) -> tuple[Any, Any, Any]:
        saved = chat.comment(log_id, text, qa_log)
        return (gr.Group(visible=not saved), "Tak for kommentaren." if saved else "Skriv en kommentar først.",
                "" if saved else gr.skip())

    def new_conversation() -> tuple[list, dict, str, Any, None]:
        return [], chat.new_state(), reader.PLACEHOLDER, gr.Group(visible=False), None

    def ask_api(question: str, history: list[list[str]] | None = None,
                sources: list[str] | None = None) -> dict:
        """Answer a question exactly as `handbook ask --json` does (see the README, "API").

        Args:
            question: the question, in Danish or English.
            history: the conversation so far as [question, answer] pairs, for follow-up questions.
            sources: answer only from these documents (names as `handbook toc` shows them); default all.
        """
        return api.ask_json(question, history, sources, settings=settings)

    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        saved = gr.BrowserState(chat.new_state(), storage_key="handbook-samtale", secret=browser_secret(settings))
        rated = gr.State(None)
        gr.HTML(HEADER, js_on_load=None)
        with gr.Row(equal_height=False, elem_id="hb-main"):
            with gr.Column(scale=3, min_width=320, elem_id="hb-chat-col"):
                chatbot = gr.Chatbot(
                    elem_id="hb-chat", show_label=False, height="min(68vh, 720px)", placeholder=START,
                    examples=[{"text": q} for q in EXAMPLES], buttons=[], latex_delimiters=[],
                    feedback_options=("Like", "Dislike") if qa_log is not None else None, layout="bubble")
                with gr.Row(elem_id="hb-ask", equal_height=True):
                    box = gr.Textbox(show_label=False, placeholder="Skriv dit spørgsmål …", lines=1,
                                     max_lines=4, scale=5, min_width=160, autofocus=True, elem_id="hb-question")
                    send = gr.Button("Spørg", variant="primary", scale=1, min_width=70, elem_id="hb-send")
                with gr.Row(elem_id="hb-tools"):
                    new = gr.Button("Ny samtale", size="sm", variant="secondary", min_width=110, scale=0,
                                    elem_id="hb-new")
                    scope_note = gr.HTML("", elem_id="hb-scope-note", js_on_load=None)
                with gr.Group(visible=False, elem_id="hb-feedback") as feedback:
                    note = gr.Markdown(elem_id="hb-feedback-note")
                    comment = gr.Textbox(show_label=False, lines=2, elem_id="hb-comment",
                                         placeholder="Hvad var godt eller galt ved svaret?")
                    comment_send = gr.Button("Send kommentar", size="sm", elem_id="hb-comment-send")
            with gr.Column(scale=2, min_width=320, elem_id="hb-side"):
                with gr.Tabs(selected="laes", elem_id="hb-tabs") as tabs:
                    with gr.Tab("Læsevindue", id="laes", elem_id="hb-tab-read"):
                        pane = gr.HTML(reader.PLACEHOLDER, elem_id="hb-reader", js_on_load=SCROLL_JS)
                    with gr.Tab("Indhold", id="indhold", elem_id="hb-tab-toc"):
                        toc = gr.HTML("", elem_id="hb-toc", js_on_load=None)
                    with gr.Tab("Dokumenter", id="dokumenter", elem_id="hb-tab-docs"):
                        docs = documents_tab.layout(settings, allowed)
        bridge = gr.HTML("", elem_id="hb-bridge", js_on_load=LINKS_JS)

        quiet: dict[str, Any] = dict(show_progress="hidden", api_visibility="undocumented")  # the page's own events
        answering = dict(concurrency_id="answer", concurrency_limit=settings.concurrency, **quiet)
        gr.on([box.submit, send.click], ask, [box, chatbot, saved, docs.scope, docs.chosen], [box, chatbot, saved],
              api_name="chat", **answering)
        gr.on([box.submit, send.click], lambda: gr.Group(visible=False), None, [feedback], queue=False,
              **quiet)  # a new question closes the comment box of the previous answer
        chatbot.example_select(ask_example, [chatbot, saved, docs.scope, docs.chosen], [box, chatbot, saved],
                               **answering)
        bridge.click(on_link, [saved], [pane, tabs], **quiet)
        chatbot.like(on_like, [saved], [rated, feedback, note, comment], **quiet)
        comment_send.click(on_comment, [rated, comment], [feedback, note, comment], **quiet)
        new.click(new_conversation, None, [chatbot, saved, pane, feedback, rated], **quiet)
        chatbot.clear(new_conversation, None, [chatbot, saved, pane, feedback, rated], **quiet)
        demo.load(restore, [saved], [chatbot, saved, toc, docs.table, docs.chosen, docs.remove_choice], **quiet)
        documents_tab.wire(docs, settings, toc, scope_note, allowed, partial(contents, settings))
        gr.api(ask_api, api_name="ask", concurrency_id="answer", concurrency_limit=settings.concurrency)
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=settings.max_queue)
    return demo


def launch_options() -> dict[str, Any]:
    """Look and feel (Gradio 6 takes these at launch): system fonts only, so nothing is fetched from the web."""
    theme = gr.themes.Soft(font=["system-ui", "Segoe UI", "Roboto", "sans-serif"],
                           font_mono=["ui-monospace", "Menlo", "monospace"])
    return {"theme": theme, "css": CSS, "footer_links": [], "ssr_mode": False}
