"""hallwatch: video supervision for government service halls and tender sites (shared core)."""
