"""vision_transfer."""
