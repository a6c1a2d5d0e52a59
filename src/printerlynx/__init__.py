"""Printerlynx: run a fleet of 3D printers from anywhere."""

__version__ = "0.1.0"
