"""The matching core: order books and price-time matching in plain Python, with no I/O.

Prices are integer ticks (cents), quantities whole shares. Callers translate to and from
Decimal at the edges.
"""
