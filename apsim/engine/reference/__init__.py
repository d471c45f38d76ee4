"""The engine's pure reference: the specification the compiled engine is tested against."""
