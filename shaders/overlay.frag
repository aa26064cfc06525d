#version 330 core
// A premultiplied-free RGBA overlay (painted annotations), blended over the slice.
in vec2 v_uv;
uniform sampler2D u_overlay;  // RGBA8
out vec4 frag;
void main() {
    frag = texture(u_overlay, v_uv);
}
