"""Uploaded images, shared by the services that take them (message images, avatars): checking and
re-encoding (:mod:`.images`) and where the files are kept (:mod:`.storage`)."""
