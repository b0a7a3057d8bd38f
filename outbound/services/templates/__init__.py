"""Message texts: rendering per kind x channel x locale and the size checks at intake."""
