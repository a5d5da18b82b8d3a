"""Sample data both the operator commands and the development tools use: Drift's article's
examples, verbatim, and the values derived from them."""
