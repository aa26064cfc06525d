"""The desktop workbench (Dear ImGui + GLFW + OpenGL). The only part of ais_like that imports the GUI stack."""
