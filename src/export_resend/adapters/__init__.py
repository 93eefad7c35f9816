"""Implementations of the ports, one technology each, and the inbound HTTP adapter."""
