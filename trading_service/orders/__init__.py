"""Order entry and order history."""
