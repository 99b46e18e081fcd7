"""Parley: real-time chat as Python microservices."""

__version__ = "0.1.0"
