"""Simulated traders for stocksim: the demo's bots, the soak test and the fault drills.

Everything here talks to the system the way a user does: sign-up and login at the user
service, orders at the trading service's public HTTP API.
"""
