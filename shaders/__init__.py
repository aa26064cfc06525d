"""GLSL programs of the workbench, shipped as package data."""
