#version 330 core
// Vertical gradient: u_bottom at the bottom, u_top at the top.
in float v_t;
uniform vec3 u_top;
uniform vec3 u_bottom;
out vec4 frag;
void main() {
    frag = vec4(mix(u_bottom, u_top, v_t), 1.0);
}
