"""Finding passages: dense search in Chroma, BM25 over Danish stems, and their fusion."""
