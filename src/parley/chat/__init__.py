"""The chat service: chats, groups, members, messages, read state and images."""
