"""Public market data: order book depth, best quotes, the trade tape."""
