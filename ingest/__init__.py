"""Ingestion: load files into sections, chunk them and index them through assistant's public API."""
