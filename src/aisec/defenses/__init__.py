"""Defenses: preprocessing, robust training, certification and detection of attacks and poisons."""
