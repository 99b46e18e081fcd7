"""Images in messages: checking and re-encoding uploads (:mod:`.images`) and where they are kept (:mod:`.storage`)."""
