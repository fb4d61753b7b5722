"""The app's screens: one per mode, plus modal help and prompts."""
