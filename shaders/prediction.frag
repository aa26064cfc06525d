#version 330 core
// One model's prediction over the slice. The threshold is applied here, so moving it needs no
// recomputation: below it nothing is drawn; above it the model's colour at alpha scaled by the
// probability (or flat, u_flat = 1).
in vec2 v_uv;
uniform sampler2D u_prob;   // R8: probability 0..1
uniform vec3 u_colour;
uniform float u_alpha;
uniform float u_threshold;
uniform int u_flat;
out vec4 frag;
void main() {
    float p = texture(u_prob, v_uv).r;
    if (p <= u_threshold) discard;
    float a = u_flat == 1 ? u_alpha : u_alpha * clamp((p - u_threshold) / max(1.0 - u_threshold, 1e-3) * 0.7 + 0.3, 0.0, 1.0);
    frag = vec4(u_colour, a);
}
