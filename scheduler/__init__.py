"""The scheduler: turns loads' call plans into placed check calls (`python -m scheduler`)."""
