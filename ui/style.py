"""The page's CSS, as a module so it ships with the package (no data files to declare)."""
from __future__ import annotations

CSS = """
.gradio-container { max-width: 1500px !important; margin: 0 auto; }
/* Gradio scopes rules inside @media to .contain, so the outer padding shrinks with the width here instead */
.gradio-container .main.app { padding-left: min(32px, 2vw) !important; padding-right: min(32px, 2vw) !important; }
.hb-header h1 { font-size: 1.45rem; margin: .2rem 0 .1rem; letter-spacing: .02em; }
.hb-header p { margin: 0 0 .4rem; color: var(--body-text-color-subdued); font-size: .95rem; }

/* answers */
#hb-chat .hb-answer p { margin: 0 0 .45em; }
#hb-chat .hb-answer ul { margin: .2em 0 .5em 1.1em; padding: 0; }
#hb-chat .hb-body { line-height: 1.5; }
#hb-chat a.hb-cite { font-weight: 600; text-decoration: none; padding: 0 .15em; border-radius: 4px;
  background: var(--color-accent-soft); color: var(--color-accent); white-space: nowrap; }
#hb-chat .hb-streaming { color: var(--body-text-color-subdued); }
#hb-chat .hb-wait::after { content: " ⏳"; }
#hb-chat .hb-notice { font-size: .88em; padding: .3em .6em; margin-bottom: .5em; border-radius: 6px;
  background: var(--background-fill-secondary); border: 1px dashed var(--border-color-primary); }
#hb-chat .hb-sources { margin-top: .7em; padding-top: .45em; border-top: 1px solid var(--border-color-primary); }
#hb-chat .hb-sources-title { font-weight: 700; font-size: .78em; letter-spacing: .08em; text-transform: uppercase;
  color: var(--body-text-color-subdued); }
#hb-chat ol.hb-source-list { list-style: none; padding: 0; margin: .3em 0 0; }
#hb-chat li.hb-source { margin: .45em 0; padding: .4em .6em; border-left: 3px solid var(--color-accent);
  background: var(--background-fill-secondary); border-radius: 0 6px 6px 0; }
#hb-chat a.hb-source-head { display: block; color: inherit; text-decoration: none; font-size: .9em; }
#hb-chat a.hb-source-head:hover .hb-chapter { text-decoration: underline; }
#hb-chat .hb-n { font-weight: 700; color: var(--color-accent); }
#hb-chat .hb-chapter { font-weight: 600; }
#hb-chat .hb-file { color: var(--body-text-color-subdued); font-size: .85em; }
#hb-chat .hb-passage { font-size: .86em; line-height: 1.45; color: var(--body-text-color-subdued); margin-top: .25em; }
#hb-chat .hb-passage mark, .hb-reader mark { background: #ffe98a; color: #1f2937; padding: 0 .1em;
  border-radius: 2px; }
#hb-chat .hb-actions { margin-top: .35em; font-size: .82em; }
#hb-chat .hb-copytext { display: none; }
#hb-chat .hb-refusal { border-left: 4px solid #d97706; background: rgba(217, 119, 6, .09); padding: .45em .7em;
  border-radius: 0 8px 8px 0; }
#hb-chat .hb-refusal-title { font-weight: 700; color: #b45309; margin-bottom: .15em; }
#hb-chat .hb-refusal-title::before { content: "⚠ "; }
#hb-chat .hb-nearest { margin-top: .3em; font-size: .9em; }
#hb-chat .hb-nearest span { display: block; margin-bottom: .15em; }
#hb-chat a.hb-chip { display: inline-block; margin: .15em .3em .1em 0; padding: .12em .6em; border-radius: 999px;
  border: 1px solid #d97706; color: inherit; text-decoration: none; }
#hb-chat a.hb-chip:hover { background: rgba(217, 119, 6, .15); }
#hb-chat .hb-error { color: #b91c1c; font-weight: 500; }
#hb-chat .hb-error::before { content: "⚠ "; }
#hb-chat .hb-q { white-space: pre-wrap; word-break: break-word; }

/* reading pane and contents */
.hb-reader { padding: 0 .5em 1em; line-height: 1.55; max-height: calc(min(68vh, 720px) + 40px);
  overflow-y: auto; position: relative; }
.hb-reader header { position: sticky; top: 0; background: var(--background-fill-primary); padding: .3em 0;
  border-bottom: 1px solid var(--border-color-primary); z-index: 1; }
.hb-reader .hb-kicker { font-size: .78em; color: var(--body-text-color-subdued); letter-spacing: .04em; }
.hb-reader h2 { font-size: 1.15rem; margin: .1em 0 0; }
.hb-reader h3 { font-size: 1rem; margin: 1em 0 .1em; }
.hb-reader .hb-meta { font-size: .78em; color: var(--body-text-color-subdued); }
.hb-reader .hb-text { white-space: pre-line; }
.hb-reader .hb-target { scroll-margin-top: 4em; }
.hb-reader .hb-context { background: rgba(255, 233, 138, .35); }
.hb-reader mark.hb-hit { background: #ffd43b; outline: 2px solid #f59e0b; }
.hb-reader .hb-note { font-size: .85em; color: #b45309; }
.hb-reader figure.hb-pdf { margin: .8em 0; }
.hb-reader figure.hb-pdf img { max-width: 100%; border: 1px solid var(--border-color-primary); }
.hb-reader figure.hb-pdf figcaption { font-size: .8em; color: var(--body-text-color-subdued); }
.hb-reader-empty { color: var(--body-text-color-subdued); padding: 1em .4em; }
#hb-toc { max-height: calc(min(68vh, 720px) + 40px); overflow-y: auto; }
.hb-toc ol { padding-left: 1.3em; margin: .3em 0; }
.hb-toc a { text-decoration: none; }
.hb-toc a:hover { text-decoration: underline; }
.hb-toc .hb-toc-title { font-weight: 600; }
.hb-toc ul.hb-toc-sections { font-size: .9em; margin: .1em 0 .5em; padding-left: 1.1em; }
#hb-bridge { display: none; }

/* documents */
.hb-docs-intro { margin: .2em 0 .5em; font-size: .92em; color: var(--body-text-color-subdued); }
#hb-docs { max-height: 44vh; overflow-y: auto; }
table.hb-docs { width: 100%; border-collapse: collapse; font-size: .86em; }
table.hb-docs th { text-align: left; font-weight: 600; border-bottom: 2px solid var(--border-color-primary);
  padding: .3em .4em; position: sticky; top: 0; background: var(--background-fill-primary); }
table.hb-docs td { border-bottom: 1px solid var(--border-color-primary); padding: .3em .4em; vertical-align: top; }
table.hb-docs td.hb-num { text-align: right; font-variant-numeric: tabular-nums; }
table.hb-docs td.hb-added { font-size: .9em; min-width: 6.5em; }
table.hb-docs .hb-doc-title { font-weight: 600; }
table.hb-docs .hb-doc-source { font-size: .85em; color: var(--body-text-color-subdued); word-break: break-all; }
table.hb-docs tr.hb-doc-digest td { background: var(--background-fill-secondary); }
table.hb-docs tr.hb-doc-unused td { opacity: .5; }
.hb-upload-progress { display: flex; align-items: center; gap: .6em; margin: .4em 0; }
.hb-upload-progress progress { flex: 0 0 40%; height: .9em; }
.hb-upload-error { color: #b91c1c; font-size: .9em; margin: .2em 0; }
.hb-upload-error::before { content: "⚠ "; }
.hb-upload-done { color: #15803d; font-size: .9em; margin: .2em 0; }
.hb-scope-note { font-size: .85em; padding: .2em .6em; border-radius: 999px; background: var(--color-accent-soft); }
.hb-scope-hint { color: var(--body-text-color-subdued); }
#hb-digest-offer { padding: .5em; border: 1px solid var(--color-accent); }
#hb-feedback { padding: .4em; }

/* phones (Gradio scopes these rules to its .contain element) */
@media (max-width: 700px) {
  #hb-chat .message-row.bubble.bot-row { max-width: 100% !important; margin-left: 0 !important;
    margin-right: 0 !important; }
  .hb-header h1 { font-size: 1.15rem; }
  .hb-header p { font-size: .85rem; }
  #hb-chat { height: 62vh !important; }
  .hb-reader, #hb-toc { max-height: 70vh; }
  #hb-ask { flex-wrap: wrap; }
}
"""
