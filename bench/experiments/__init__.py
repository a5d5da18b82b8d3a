"""Variants of the shipped functions, run by the benchmark as evidence for a recommendation.

Nothing here is deployed: each module changes one thing of the real function (by patching the
shared module it calls) and re-exports the function so functions-framework can serve it.
"""
