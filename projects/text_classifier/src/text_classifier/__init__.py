"""text_classifier."""
