"""The user service: one-time-code login, tokens, profiles and search."""
