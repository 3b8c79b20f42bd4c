"""Export: split without leakage, write FlagEmbedding JSONL + a BEIR eval set with a manifest,
publish atomically into a versioned export root, verify an export on disk."""
