"""Broker matching beyond the single offer: warm agencies, and what else brokers ask."""
