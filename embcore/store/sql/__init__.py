"""The store's SQL, one module of named statements per concern module of :mod:`embcore.store`.

A constant per statement (parameterised with ``?``); a ``{name}`` placeholder is only ever
filled with an identifier or a fragment from this package, never with a value.
"""
