#version 330 core
// A full-viewport quad at the far plane for the 3D view's background.
layout(location = 0) in vec2 a_pos;   // corner in 0..1
out float v_t;
void main() {
    gl_Position = vec4(a_pos * 2.0 - 1.0, 0.9999, 1.0);
    v_t = a_pos.y;
}
