"""One module per REST resource; each holds ``<Noun>Collection`` / ``<Noun>Item`` responders."""
