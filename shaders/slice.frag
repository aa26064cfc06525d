#version 330 core
// The tomogram slice in grey: raw values windowed to [u_lo, u_hi], optionally inverted.
in vec2 v_uv;
uniform sampler2D u_image;  // R32F raw (or display-filtered) values
uniform float u_lo;
uniform float u_hi;
uniform int u_invert;
out vec4 frag;
void main() {
    float v = texture(u_image, v_uv).r;
    float g = clamp((v - u_lo) / max(u_hi - u_lo, 1e-12), 0.0, 1.0);
    if (u_invert == 1) g = 1.0 - g;
    frag = vec4(g, g, g, 1.0);
}
