"""Read models and presentation: the console, histories, evidence exports, decision texts, charts."""
