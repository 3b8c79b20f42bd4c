"""Training: evaluate a model on an exported eval set, fine-tune it (MNRL / triplet / CoSENT ...)
and the contrastive losses (InfoNCE, triplet, SimCSE)."""
