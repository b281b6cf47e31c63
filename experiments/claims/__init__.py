"""The claims table across the papers: reads the ``claims.json`` each training report writes."""
