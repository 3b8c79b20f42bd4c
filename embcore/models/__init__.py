"""Models: load and run embedding models (encoders), teacher scoring and prompts."""
