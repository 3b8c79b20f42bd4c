"""Negative mining: small pure functions (bm25, dense, inbatch, rules, fusion, filters, sampling)
composed by one orchestrator (:mod:`embcore.mining.pipeline`)."""
