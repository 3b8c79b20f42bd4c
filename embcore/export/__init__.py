"""Export: split without leakage, write FlagEmbedding JSONL, sentence-transformers Parquet, a Hugging
Face DatasetDict (``formats``), a BEIR eval set, a dataset card (``card``) and a manifest, publish
atomically into a versioned export root, verify an export on disk."""
