"""Turning retrieved passages into a cited answer: sentences, scoring, citations, prompts, verification."""
