"""The index: the catalog (SQLite), the vectors (Chroma), their lock and crash repair."""
