"""SISR Studio's desktop application: the only package that imports PySide6."""
