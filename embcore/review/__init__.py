"""Review: the human decisions on mined candidates (navigation, filters, bulk rules, the candidate
view) and the similarity views that help decide."""
