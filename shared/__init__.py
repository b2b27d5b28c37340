"""Code every stocksim process shares: settings, errors, logging, money, Kafka topics."""
