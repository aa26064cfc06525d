"""OpenGL drawing for the workbench (imported only by ais_like.gui)."""
