#version 330 core
// The slice canvas in one pass: the tomogram slice in grey (raw values windowed to
// [u_lo, u_hi], optionally inverted) with up to MAX_LAYERS model predictions blended over it.
// Thresholds are applied here, so moving one needs no recomputation: below it a layer draws
// nothing; above it, its colour at alpha scaled by the probability (or flat when u_flat = 1).
#ifndef N_LAYERS
#define N_LAYERS 0
#endif
#define MAX_LAYERS 8
in vec2 v_uv;
uniform sampler2D u_image;        // R32F raw (or display-filtered) values
uniform sampler2DArray u_probs;   // R8 probabilities 0..1, one layer per model
uniform float u_lo;
uniform float u_hi;
uniform int u_invert;
uniform vec3 u_colour[MAX_LAYERS];
uniform float u_alpha[MAX_LAYERS];
uniform float u_threshold[MAX_LAYERS];
uniform int u_flat[MAX_LAYERS];
out vec4 frag;
void main() {
    float v = texture(u_image, v_uv).r;
    float g = clamp((v - u_lo) / max(u_hi - u_lo, 1e-12), 0.0, 1.0);
    if (u_invert == 1) g = 1.0 - g;
    vec3 c = vec3(g);
    // one program per number of layers (N_LAYERS is defined at compile time): llvmpipe runs
    // every iteration of a loop with a run-time bound, so unused layers would cost fill rate
    for (int i = 0; i < N_LAYERS; ++i) {
        float p = texture(u_probs, vec3(v_uv, float(i))).r;
        if (p > u_threshold[i]) {
            float a = u_flat[i] == 1 ? u_alpha[i]
                : u_alpha[i] * clamp((p - u_threshold[i]) / max(1.0 - u_threshold[i], 1e-3) * 0.7 + 0.3, 0.0, 1.0);
            c = mix(c, u_colour[i], a);
        }
    }
    frag = vec4(c, 1.0);
}
