"""Configuration loading: YAML/CSV sources, validation and normalisation into the desired state."""
