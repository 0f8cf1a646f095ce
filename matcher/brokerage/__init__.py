"""Broker matching beyond one agency's offer: split offers, and what else a broker acts on."""
