"""Cash, positions and P&L of the caller's account."""
