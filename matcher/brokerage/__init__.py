"""What a broker gets beyond the ranked offers: exact nearest fits, the single changes
that make a package fit, split offers and the council's ranking policy."""
